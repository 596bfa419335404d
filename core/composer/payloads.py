"""Exact platform payloads: one ``PushContent`` for one device becomes an FCM, APNs or Web Push request.

Every request carries Herald's delivery id where the device's SDK looks for it (``push_contract``), and a
replace key — the content's own, or ``herald-<campaign>`` — as FCM collapse key and Android tag, APNs
collapse id and Web Push Topic/tag, so a resend after an ambiguous failure collapses on the device.

==========  =====================================================================================
platform    what the content becomes
==========  =====================================================================================
FCM         ``notification`` {title, body, image}; ``android`` {priority, ttl, collapse_key,
            notification {tag, channel_id, click_action, sound, image, icon, notification_count}};
            ``data``: the content's data, Herald's ids, ``herald_link``, ``herald_buttons`` (JSON),
            ``herald_badge_increment``
APNs        ``aps`` {alert {title, subtitle, body}, badge, sound (a critical alert's sound dict),
            category, thread-id, interruption-level, mutable-content (an image or a badge increment
            needs the service extension)}; ``image_url``, ``deep_link``, ``buttons``, ``herald``;
            headers: push type ``alert``/``background``, priority 10/5, expiration, collapse id
Web Push    JSON {title, body, icon, image, tag, renotify, requireInteraction, actions
            [{action, title}], data {url, links, …}, herald}; TTL, Urgency, Topic headers
==========  =====================================================================================

A silent push is FCM data-only, an APNs background push, or a Web Push document with no title and body.

Sizes are checked on the exact bytes that will be sent (FCM: the v1 message as JSON, token included):
an oversized payload raises ``PayloadTooLarge`` naming the platform, the delivery (and the recipient when
known) and the excess. With ``PushContent.trim_body`` the body is cut instead — between user-perceived
characters, never inside an emoji or a multi-byte character — and ends with an ellipsis.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from core.composer.content import PushContent
from core.domain import Platform, Provider
from core.domain import push_contract as contract
from core.domain.text import ELLIPSIS, cut_to_bytes, json_string_len
from core.errors import PayloadTooLarge, ValidationError
from core.providers.base import ApnsRequest, FcmRequest, PushRequest, WebPushRequest

FCM_MAX_BYTES = 4096
APNS_MAX_BYTES = 4096
#: RFC 8291 with one aes128gcm record of 4,096 bytes leaves 3,993 bytes of plaintext.
WEBPUSH_MAX_PLAINTEXT = 3993
#: Namespace for apns-id UUIDs derived from delivery ids.
_APNS_ID_NAMESPACE = uuid.UUID("6f1d8a52-3b59-4c1e-9a8e-2f7f3f6f9a10")
_APNS_NS_BYTES = _APNS_ID_NAMESPACE.bytes
_PLATFORM_NAMES = {Provider.FCM: "fcm", Provider.APNS: "apns", Provider.WEBPUSH: "webpush"}
_LIMITS = {Provider.FCM: FCM_MAX_BYTES, Provider.APNS: APNS_MAX_BYTES, Provider.WEBPUSH: WEBPUSH_MAX_PLAINTEXT}


@dataclass(frozen=True, slots=True)
class Target:
    """One device a delivery goes to; ``recipient`` (e.g. ``user u-17``) only makes errors clearer."""

    delivery_id: int
    campaign_id: int
    platform: Platform
    provider: Provider
    token: str
    subscription: Mapping[str, Any] | None = None
    recipient: str | None = None


def replace_key(content: PushContent, campaign_id: int) -> str:
    """The key that makes a resend replace instead of double."""
    return content.replace_key or f"herald-{campaign_id}"


def apns_id(delivery_id: int) -> str:
    """A stable apns-id per delivery (a retry carries the same one): ``uuid5(namespace, str(delivery_id))``."""
    digest = bytearray(hashlib.sha1(_APNS_NS_BYTES + str(delivery_id).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_EMPTY_WHEN_FALSY = (str, list, dict)


def _compact(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without None, empty strings, lists and dicts (0 and False stay: they mean something)."""
    return {k: v for k, v in obj.items() if v is not None and (v or type(v) not in _EMPTY_WHEN_FALSY)}


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the encoding of every payload Herald sends."""
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:
        raise ValidationError(f"the message cannot be encoded as JSON: {exc}", "content") from None


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _check(size: int, limit: int) -> None:
    if size > limit:
        raise _TooLarge(size)


def build_request(content: PushContent, target: Target, now_epoch: int) -> PushRequest:
    """The provider request that shows ``content`` on ``target``; PayloadTooLarge when it cannot fit."""
    if content.origin is not None:
        fast = _from_skeleton(content, content.origin, target, now_epoch)
        if fast is not None:
            return fast
    build = _fcm if target.provider is Provider.FCM else _apns if target.provider is Provider.APNS else _webpush
    limit = _limit(target.provider)
    try:
        return build(content, target, now_epoch)
    except _TooLarge as first:
        if content.trim_body and content.body and not content.silent:
            return _trimmed(build, content, target, now_epoch, first.size - limit)
        raise _too_large(target, first.size, limit) from None


def payload_limit(provider: Provider) -> int:
    """The byte limit ``build_request`` holds a provider's payload to."""
    return _LIMITS[provider]


_limit = payload_limit


def _too_large(target: Target, size: int, limit: int, trimmed: bool = False) -> PayloadTooLarge:
    platform = _PLATFORM_NAMES[target.provider]
    who = f" ({target.recipient})" if target.recipient else ""
    hint = "even with the body trimmed to nothing; shorten the title or drop fields" if trimmed else \
        "shorten the body, drop fields, or allow trimming the body"
    return PayloadTooLarge(
        f"the {platform} payload for delivery {target.delivery_id}{who} is {size:,} bytes, {size - limit:,} over "
        f"the {limit:,}-byte limit; {hint}",
        limit=limit, size=size, field=platform,
    )


def _trimmed(build: Any, content: PushContent, target: Target, now_epoch: int, excess: int) -> PushRequest:
    """Cut the body by at least ``excess`` bytes (plus the ellipsis) and build again until it fits."""
    body = content.body
    budget = json_string_len(body) - excess - json_string_len(ELLIPSIS)
    while True:
        cut = cut_to_bytes(body, max(budget, 0), json_string_len).rstrip()
        candidate = dataclasses.replace(content, body=cut + ELLIPSIS, trim_body=False)
        try:
            request: PushRequest = build(candidate, target, now_epoch)
            return request
        except _TooLarge as again:
            if not cut:
                raise _too_large(target, again.size, _limit(target.provider), trimmed=True) from None
            budget = json_string_len(cut) - (again.size - _limit(target.provider))


def _herald(target: Target, content: PushContent, kind: str = contract.TYPE_MESSAGE) -> dict[str, Any]:
    herald: dict[str, Any] = {"delivery_id": target.delivery_id, "campaign_id": target.campaign_id, "type": kind}
    if content.badge_increment is not None:
        herald[contract.BADGE_INCREMENT] = content.badge_increment
    return herald


#: Buttons as JSON objects (and FCM's JSON text), per buttons tuple: personalised copies of a content share
#: one tuple when the buttons are not templates, so a campaign encodes them once.
_BUTTONS_CACHE: dict[int, tuple[tuple[Any, ...], list[dict[str, Any]], str]] = {}


def _encoded_buttons(content: PushContent) -> tuple[list[dict[str, Any]], str]:
    buttons = content.buttons
    hit = _BUTTONS_CACHE.get(id(buttons))
    if hit is not None and hit[0] is buttons:
        return hit[1], hit[2]
    objects = [{"id": b.id, "label": b.label, "link": b.link} for b in buttons]
    text = json_bytes(objects).decode()
    if len(_BUTTONS_CACHE) > 256:
        _BUTTONS_CACHE.clear()
    _BUTTONS_CACHE[id(buttons)] = (buttons, objects, text)
    return objects, text


def _buttons(content: PushContent) -> list[dict[str, Any]]:
    return _encoded_buttons(content)[0]  # shared, read-only: a payload dict only lives until it is encoded


def _fcm(content: PushContent, target: Target, now_epoch: int) -> FcmRequest:
    key = replace_key(content, target.campaign_id)
    data = {
        **content.data,
        contract.FCM_DELIVERY_ID: str(target.delivery_id),
        contract.FCM_CAMPAIGN_ID: str(target.campaign_id),
        contract.FCM_TYPE: contract.TYPE_MESSAGE,
    }
    if content.deep_link:
        data[contract.FCM_LINK] = content.deep_link
    if content.buttons:
        data[contract.FCM_BUTTONS] = _encoded_buttons(content)[1]
    if content.badge_increment is not None:
        data[contract.FCM_BADGE_INCREMENT] = str(content.badge_increment)
    android: dict[str, Any] = {"priority": "high" if content.priority == "high" else "normal",
                               "ttl": f"{content.ttl_seconds}s", "collapse_key": key}
    message: dict[str, Any] = {"data": data, "android": android}
    if not content.silent:
        message["notification"] = _compact({"title": content.title, "body": content.body, "image": content.image})
        android["notification"] = _compact({
            "tag": key, "channel_id": content.channel, "click_action": content.deep_link, "sound": content.sound,
            "image": content.image, "icon": content.icon,
            "notification_count": content.badge,
        })
    _check(len(json_bytes({"message": {**message, "token": target.token}})), FCM_MAX_BYTES)
    return FcmRequest(target.token, message, target.delivery_id)


def _apns(content: PushContent, target: Target, now_epoch: int) -> ApnsRequest:
    key = replace_key(content, target.campaign_id)
    payload: dict[str, Any] = {}
    if content.silent:
        payload["aps"] = {"content-available": 1}
        push_type, priority = "background", 5
    else:
        alert = _compact({"title": content.title, "subtitle": content.subtitle, "body": content.body})
        sound: Any = content.sound
        if sound and content.interruption_level == "critical":
            sound = {"critical": 1, "name": sound, "volume": 1.0}
        extension = content.image is not None or content.badge_increment is not None
        payload["aps"] = _compact({
            "alert": alert, "badge": content.badge, "sound": sound, "category": content.category,
            "thread-id": content.thread_id or f"campaign-{target.campaign_id}",
            "interruption-level": content.interruption_level,
            "mutable-content": 1 if extension else None,
        })
        push_type, priority = "alert", 10 if content.priority == "high" else 5
    payload[contract.HERALD_KEY] = _herald(target, content)
    if content.image:
        payload["image_url"] = content.image
    if content.deep_link:
        payload["deep_link"] = content.deep_link
    if content.buttons:
        payload["buttons"] = _buttons(content)
    payload.update({k: v for k, v in content.data.items() if k not in payload})
    body = json_bytes(payload)
    _check(len(body), APNS_MAX_BYTES)
    expiration = now_epoch + content.ttl_seconds if content.ttl_seconds else 0
    return ApnsRequest(target.token, body, push_type, priority, expiration, key, apns_id(target.delivery_id),
                       target.delivery_id)


def _webpush(content: PushContent, target: Target, now_epoch: int) -> WebPushRequest:
    if target.subscription is None:
        raise ValidationError(f"delivery {target.delivery_id}: a Web Push device has no subscription", "subscription")
    key = replace_key(content, target.campaign_id)
    document: dict[str, Any] = {}
    if not content.silent:
        document.update(_compact({
            "title": content.title, "body": content.body, "icon": content.icon, "image": content.image,
            "tag": key, "renotify": content.renotify, "requireInteraction": content.require_interaction or None,
            "actions": [{"action": b.id, "title": b.label} for b in content.buttons],
        }))
    data = _compact({"url": content.deep_link, **content.data,
                     "links": {b.id: b.link for b in content.buttons if b.link} or None})
    if data:
        document["data"] = data
    document[contract.HERALD_KEY] = _herald(target, content)
    body = json_bytes(document)
    _check(len(body), WEBPUSH_MAX_PLAINTEXT)
    return WebPushRequest(target.subscription, body, content.ttl_seconds,
                          "high" if content.priority == "high" else "normal", key[:32], target.delivery_id)


def build_recall(target: Target, keys: Sequence[str], delivery_ids: Sequence[int], ttl_seconds: int) -> PushRequest:
    """The recall signal for ``target``: removes notifications with ``keys`` or ``delivery_ids`` (push_contract)."""
    if target.provider is Provider.FCM:
        message = {
            "data": {contract.FCM_TYPE: contract.TYPE_RECALL, contract.FCM_RECALL_TAGS: ",".join(keys),
                     contract.FCM_RECALL_IDS: ",".join(str(i) for i in delivery_ids),
                     contract.FCM_DELIVERY_ID: str(target.delivery_id),
                     contract.FCM_CAMPAIGN_ID: str(target.campaign_id)},
            "android": {"priority": "high", "ttl": f"{ttl_seconds}s"},
        }
        return FcmRequest(target.token, message, target.delivery_id)
    recall = {"type": contract.TYPE_RECALL, "delivery_id": target.delivery_id,
              "campaign_id": target.campaign_id, "delivery_ids": list(delivery_ids)}
    if target.provider is Provider.APNS:
        document = {"aps": {"content-available": 1}, contract.HERALD_KEY: {**recall, "collapse_ids": list(keys)}}
        body = json_bytes(document)
        return ApnsRequest(target.token, body, "background", 5, 0, None, apns_id(target.delivery_id),
                           target.delivery_id)
    assert target.subscription is not None
    body = json_bytes({contract.HERALD_KEY: {**recall, "tags": list(keys)}})
    return WebPushRequest(target.subscription, body, ttl_seconds, "high", None, target.delivery_id)


# -- skeletons: the shared bytes of personalised copies ------------------------------------------------------
#
# Personalised copies of one content (``PushContent.rendered``) differ only in a few texts. A skeleton is the
# payload of the original with a placeholder in each rendered text and a sentinel delivery id, cut where
# they go; a copy's payload is the skeleton's pieces joined with its own JSON-escaped texts and delivery id.
# The bytes are those ``build_request`` makes (``tests/core/composer/test_skeletons.py`` checks it); whenever
# that cannot be guaranteed — an empty rendered text (the field would be left out), a text that is not a
# whole JSON string, an oversized payload (the error or the trim comes from the full build) — the full build
# runs instead.

#: Texts a skeleton can take; other rendered fields (buttons, data) make a full build.
_SKELETON_FIELDS = ("title", "subtitle", "body", "deep_link", "image", "icon")
_SENTINEL_ID = 987_654_321_012_345_679
_SENTINEL_TEXT = str(_SENTINEL_ID)


def _placeholder(index: int) -> str:
    return f"\ue000herald-skeleton-{index}\ue001"


@dataclass(frozen=True, slots=True)
class _Skeleton:
    origin: PushContent
    fields: tuple[str, ...]
    #: The encoded payload cut into parts, with empty bytes where a text or the delivery id goes.
    parts: tuple[bytes, ...]
    #: (position in ``parts``, field index or -1 for the delivery id).
    slots: tuple[tuple[int, int], ...]
    request: PushRequest
    #: FCM: where the rendered texts and the delivery id sit in the message dict.
    paths: tuple[tuple[tuple[str, ...], int], ...] = ()


_SKELETONS: dict[tuple[Any, ...], _Skeleton | None] = {}


def _from_skeleton(content: PushContent, origin: tuple[PushContent, frozenset[str]], target: Target,
                   now_epoch: int) -> PushRequest | None:
    base, changed = origin
    key = (id(base), changed, id(target.provider), target.campaign_id, target.subscription is None)
    skeleton = _SKELETONS.get(key)
    if skeleton is None or skeleton.origin is not base:
        if key in _SKELETONS and skeleton is None:
            return None
        skeleton = _make_skeleton(base, changed, target)
        if len(_SKELETONS) > 512:
            _SKELETONS.clear()
        _SKELETONS[key] = skeleton
        if skeleton is None:
            return None
    values = [getattr(content, name) for name in skeleton.fields]
    if not all(values):
        return None  # an empty text leaves its field out: the full build decides the shape
    encoded = [orjson.dumps(v)[1:-1] for v in values]
    delivery = str(target.delivery_id)
    encoded.append(delivery.encode())  # index -1
    parts = list(skeleton.parts)
    for position, index in skeleton.slots:
        parts[position] = encoded[index]
    body = b"".join(parts)
    proto = skeleton.request
    if isinstance(proto, FcmRequest):
        size = len(body) + len(orjson.dumps(target.token)) - 2
        if size > FCM_MAX_BYTES:
            return None
        message = _fill(proto.message, skeleton.paths, values, delivery)
        return FcmRequest(target.token, message, target.delivery_id)
    if len(body) > _LIMITS[target.provider]:
        return None
    if isinstance(proto, ApnsRequest):
        expiration = now_epoch + content.ttl_seconds if content.ttl_seconds else 0
        return ApnsRequest(target.token, body, proto.push_type, proto.priority, expiration, proto.collapse_id,
                           apns_id(target.delivery_id), target.delivery_id)
    assert isinstance(proto, WebPushRequest) and target.subscription is not None
    return WebPushRequest(target.subscription, body, proto.ttl, proto.urgency, proto.topic, target.delivery_id)


def _make_skeleton(base: PushContent, changed: frozenset[str], target: Target) -> _Skeleton | None:
    if not changed <= set(_SKELETON_FIELDS) or base.trim_body:
        return None
    fields = tuple(f for f in _SKELETON_FIELDS if f in changed)
    probe = base.rendered({name: _placeholder(i) for i, name in enumerate(fields)})
    shape = Target(_SENTINEL_ID, target.campaign_id, target.platform, target.provider, "",
                   None if target.subscription is None else {})
    build = _fcm if shape.provider is Provider.FCM else _apns if shape.provider is Provider.APNS else _webpush
    try:
        request = build(probe, shape, 0)
    except (_TooLarge, ValidationError):
        return None
    paths: tuple[tuple[tuple[str, ...], int], ...] = ()
    if isinstance(request, FcmRequest):
        raw = json_bytes({"message": {**request.message, "token": ""}})
        found: list[tuple[tuple[str, ...], int]] = []
        if not _find_paths(request.message, (), fields, found):
            return None
        paths = tuple(found)
    else:
        assert isinstance(request, ApnsRequest | WebPushRequest)
        raw = request.payload
    pieces: list[bytes | int] = []
    marks = [(_placeholder(i).encode(), i) for i in range(len(fields))] + [(_SENTINEL_TEXT.encode(), -1)]
    rest = raw
    while rest:
        hits = [(rest.find(m), m, i) for m, i in marks if rest.find(m) >= 0]
        if not hits:
            pieces.append(rest)
            break
        at, mark, index = min(hits)
        before, after = rest[:at], rest[at + len(mark):]
        if index >= 0 and not (before.endswith(b'"') and after.startswith(b'"')):
            return None  # a text that is not a whole JSON string value
        pieces.extend([before, index])
        rest = after
    if sum(1 for p in pieces if p == -1) != 1 or (paths and sum(1 for _, i in paths if i < 0) != 1):
        return None  # the content itself contains the sentinel's digits
    kept = [p for p in pieces if p != b""]
    parts = tuple(p if isinstance(p, bytes) else b"" for p in kept)
    slots = tuple((n, p) for n, p in enumerate(kept) if isinstance(p, int))
    return _Skeleton(base, fields, parts, slots, request, paths)


def _find_paths(node: Any, path: tuple[str, ...], fields: tuple[str, ...],
                found: list[tuple[tuple[str, ...], int]]) -> bool:
    """Record where each placeholder (and the sentinel delivery id) sits; False if one is inside a longer text."""
    if isinstance(node, dict):
        return all(_find_paths(v, (*path, k), fields, found) for k, v in node.items())
    if isinstance(node, str):
        for i in range(len(fields)):
            mark = _placeholder(i)
            if node == mark:
                found.append((path, i))
            elif mark in node:
                return False
        if node == _SENTINEL_TEXT:
            found.append((path, -1))
        elif _SENTINEL_TEXT in node:
            return False
    if isinstance(node, list):
        text = orjson.dumps(node).decode()
        return not any(_placeholder(i) in text for i in range(len(fields))) and _SENTINEL_TEXT not in text
    return True


def _fill(proto: Mapping[str, Any], paths: tuple[tuple[tuple[str, ...], int], ...], values: list[str],
          delivery: str) -> dict[str, Any]:
    """A copy of ``proto`` with each recorded path set to its value (containers on the way are copied)."""
    root = dict(proto)
    copied: dict[tuple[str, ...], dict[str, Any]] = {(): root}
    for path, index in paths:
        node = root
        for depth in range(1, len(path)):
            prefix = path[:depth]
            child = copied.get(prefix)
            if child is None:
                child = copied[prefix] = dict(node[path[depth - 1]])
                node[path[depth - 1]] = child
            node = child
        node[path[-1]] = delivery if index < 0 else values[index]
    return root
