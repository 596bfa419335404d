"""Turning claimed rows into provider requests, rendering a non-personalised push only once (Fast Push).

``core.composer.payloads.build_request`` builds a request for one (content, device) pair; a campaign's
payloads differ per device only in the delivery id (and the token or subscription, which sit outside the
payload bytes). ``RequestRenderer`` builds a prototype once per (campaign, variant, provider, platform) with
a sentinel delivery id, splits it where the id goes, and stamps each device's id into a copy: a few
microseconds a message instead of a JSON encoding. When the sentinel cannot be found exactly where
expected (content that happens to contain its digits, an unusual token) it falls back to
``build_request``, so the bytes on the wire are always the ones ``build_request`` would make
(``tests/core/sending/test_render.py`` checks that).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from core.clock import Clock
from core.composer.content import PushContent
from core.composer.payloads import (
    FCM_MAX_BYTES,
    Target,
    apns_id,
    build_recall,
    build_request,
    replace_key,
)
from core.domain import DeliveryKind
from core.domain import push_contract as contract
from core.errors import ValidationError
from core.providers.base import ApnsRequest, FcmRequest, PushRequest, WebPushRequest
from core.sending.outbox import ClaimedDelivery

#: An id no workspace reaches; its digits mark where a delivery id goes in a prototype payload.
_SENTINEL = 987_654_321_012_345_678
_SENTINEL_BYTES = str(_SENTINEL).encode()
_TEMPLATE_MARKERS = ("{{", "{%")

Personaliser = Callable[[PushContent, ClaimedDelivery], PushContent]


def is_personalised(content: PushContent) -> bool:
    """True when ``content`` differs per recipient: a Liquid template in any text, or per-locale texts."""
    if content.locales:
        return True
    texts = [content.title, content.body, content.subtitle, content.deep_link or "", content.image or "",
             content.icon or "", *content.data.values(), *(b.label for b in content.buttons),
             *(b.link or "" for b in content.buttons)]
    return any(marker in text for text in texts for marker in _TEMPLATE_MARKERS)


@runtime_checkable
class BatchPersonaliser(Protocol):
    """A personaliser that loads what it needs for a whole claimed batch at once (``core.composer``'s does)."""

    def __call__(self, content: PushContent, d: ClaimedDelivery, /) -> PushContent: ...

    def prepare(self, deliveries: Sequence[ClaimedDelivery], /) -> None: ...


@runtime_checkable
class AudienceChecker(Protocol):
    """A personaliser that can render a whole audience before anything is queued (strict mode's check)."""

    def check_audience(self, contents: Mapping[int | None, PushContent], device_ids: Sequence[int],
                       variants: Mapping[int, int | None] | None = None, *, campaign_id: int = 0,
                       now_epoch: int = 0) -> int: ...


def target_of(d: ClaimedDelivery) -> Target:
    """The composer's view of a claimed row."""
    return Target(d.id, d.campaign_id, d.platform, d.provider, d.token, d.subscription)


@dataclass(frozen=True, slots=True)
class _Prototype:
    request: PushRequest
    #: The payload split where the delivery id goes (APNs, Web Push), or None for FCM's dict message.
    parts: tuple[bytes, bytes] | None
    #: FCM: the encoded size of the message with an empty token.
    fcm_base_size: int = 0


class RequestRenderer:
    """Builds provider requests for claimed rows; caches one prototype per payload shape."""

    def __init__(self, clock: Clock, personalise: Personaliser | None = None) -> None:
        self._clock = clock
        self._personalise = personalise
        self._cache: dict[tuple[Any, ...], tuple[PushContent, _Prototype | None]] = {}
        self.fast_hits = 0
        self.slow_builds = 0

    def prepare(self, contents: Iterable[PushContent], rows: Sequence[ClaimedDelivery]) -> None:
        """Before rendering a claimed batch: let a batch personaliser load its recipients in bulk."""
        if isinstance(self._personalise, BatchPersonaliser) and any(is_personalised(c) for c in contents):
            self._personalise.prepare(rows)

    def check_audience(self, campaign_id: int, contents: Mapping[int | None, PushContent], device_ids: Sequence[int],
                       variants: Mapping[int, int | None]) -> None:
        """Before a personalised campaign is queued: every recipient's message renders and fits, or it raises."""
        if isinstance(self._personalise, AudienceChecker) and any(is_personalised(c) for c in contents.values()):
            self._personalise.check_audience(contents, device_ids, variants, campaign_id=campaign_id,
                                             now_epoch=int(self._clock.now().timestamp()))

    def forget(self, campaign_id: int) -> None:
        """Drop the prototypes of one campaign (its content changed or it ended)."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != campaign_id}

    def render(self, content: PushContent, d: ClaimedDelivery) -> PushRequest:
        """The request for ``d``; raises ValidationError / PayloadTooLarge for a message that cannot go."""
        now_epoch = int(self._clock.now().timestamp())
        if d.kind is DeliveryKind.RECALL:
            ids = [d.message_delivery_id] if d.message_delivery_id is not None else []
            return build_recall(target_of(d), [replace_key(content, d.campaign_id)], ids, content.ttl_seconds)
        if is_personalised(content):
            if self._personalise is None:
                raise ValidationError("the content is personalised but no renderer was configured", "content")
            self.slow_builds += 1
            return build_request(self._personalise(content, d), target_of(d), now_epoch)
        key = (d.campaign_id, d.variant_id, d.provider, d.platform)
        cached = self._cache.get(key)
        if cached is None or cached[0] is not content:
            cached = self._cache[key] = (content, self._prototype(content, d, now_epoch))
        proto = cached[1]
        request = self._stamp(proto, content, d, now_epoch) if proto is not None else None
        if request is None:
            self.slow_builds += 1
            return build_request(content, target_of(d), now_epoch)
        self.fast_hits += 1
        return request

    @staticmethod
    def _prototype(content: PushContent, d: ClaimedDelivery, now_epoch: int) -> _Prototype | None:
        target = Target(_SENTINEL, d.campaign_id, d.platform, d.provider, "", {} if d.subscription else None)
        try:
            request = build_request(content, target, now_epoch)
        except Exception:
            return None  # the per-device build reports the problem with the device's own delivery id
        if isinstance(request, FcmRequest):
            data = request.message.get("data", {})
            if data.get(contract.FCM_DELIVERY_ID) != str(_SENTINEL):
                return None
            size = len(_fcm_bytes({"message": {**request.message, "token": ""}}))
            return _Prototype(request, None, size)
        payload = request.payload
        if payload.count(_SENTINEL_BYTES) != 1:
            return None
        head, tail = payload.split(_SENTINEL_BYTES)
        return _Prototype(request, (head, tail))

    @staticmethod
    def _stamp(proto: _Prototype, content: PushContent, d: ClaimedDelivery, now_epoch: int) -> PushRequest | None:
        request = proto.request
        if isinstance(request, FcmRequest):
            token = d.token
            if not token.isascii() or '"' in token or "\\" in token:
                return None
            if proto.fcm_base_size + len(token) > FCM_MAX_BYTES:
                return None  # build_request raises PayloadTooLarge with the exact figures
            message = dict(request.message)
            message["data"] = {**message["data"], contract.FCM_DELIVERY_ID: str(d.id)}
            return FcmRequest(token, message, d.id)
        assert proto.parts is not None
        payload = proto.parts[0] + str(d.id).encode() + proto.parts[1]
        if isinstance(request, ApnsRequest):
            expiration = now_epoch + content.ttl_seconds if content.ttl_seconds else 0
            return ApnsRequest(d.token, payload, request.push_type, request.priority, expiration,
                               request.collapse_id, apns_id(d.id), d.id)
        assert isinstance(request, WebPushRequest)
        if d.subscription is None:
            return None
        return WebPushRequest(d.subscription, payload, request.ttl, request.urgency, request.topic, d.id)


def _fcm_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
