"""APNs provider API semantics: ``POST /3/device/{token}`` checked and answered as Apple does.

``ApnsService.handle`` is transport-free: it takes one request's method, path, headers and body and returns
the status, headers and body to send. ``simulator.services.h2server`` carries it over HTTP/2 (TLS and h2c).

Checks, in order, and Apple's answers (bodies are ``{"reason": ...}``; every answer carries ``apns-id``):

* POST only (405 MethodNotAllowed), path ``/3/device/{token}`` (404 BadPath, 400 MissingDeviceToken);
* ``authorization: bearer <ES256 JWT>``: missing → 403 MissingProviderToken; malformed, unknown ``kid``,
  bad signature, ``iss`` not the team or ``iat`` in the future → 403 InvalidProviderToken; ``iat`` older than
  an hour (or expired by a fault) → 403 ExpiredProviderToken. A token is verified once and then cached.
* ``apns-topic``: missing → 400 MissingTopic; another app's bundle id → 400 DeviceTokenNotForTopic; one of
  this bundle's suffixed topics (``.voip`` …) with the wrong push type → 400 TopicDisallowed;
* ``apns-push-type`` (default ``alert``) → 400 InvalidPushType; ``apns-priority`` 10, 5 or 1, and 5 for
  ``background`` → 400 BadPriority; ``apns-expiration`` an integer → 400 BadExpirationDate;
  ``apns-collapse-id`` ≤ 64 bytes → 400 BadCollapseId; ``apns-id`` a canonical UUID → 400 BadMessageId;
* payload: empty or without ``aps`` → 400 PayloadEmpty; not a JSON object → 400 BadPayload (the simulator's
  name; Apple documents none); over 4096 bytes (5120 for VoIP) → 413 PayloadTooLarge;
* the fleet's verdict: unknown token → 400 BadDeviceToken; uninstalled → 410 Unregistered with
  ``timestamp`` (ms); device throttled → 429 TooManyRequests.

Injected faults answer 429 TooManyRequests, 500 InternalServerError, 503 ServiceUnavailable or 403
InvalidProviderToken. Success is 200 with ``apns-id`` (echoed or generated) and ``apns-unique-id``.

The device sees ``aps.alert`` (string or title/subtitle/body), ``badge``, ``sound``, ``category``, the
collapse id as tray key, and the rest of the payload as data; top-level ``image_url`` (or ``image``),
``deep_link`` (or ``url``) and ``buttons`` (``[{"id", "label", "link"}]``, as Herald's composer writes them)
become the notification's image, deep link and buttons. A ``background`` push, or one with
``content-available`` and no alert, is a data push.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from core.domain import Provider
from simulator.inbound import AcceptanceStatus, Button, InboundPush, PushKind, PushSink, RenderedNotification
from simulator.services.clock import WallClock, system_wall_clock, utc_from_epoch
from simulator.services.faults import FaultDecision, FaultInjector, FaultKind
from simulator.services.jws import JwsError, numeric_claim, parse_jws, verify_es256

MAX_PAYLOAD_BYTES = 4096
MAX_VOIP_PAYLOAD_BYTES = 5120
MAX_COLLAPSE_ID_BYTES = 64
PROVIDER_TOKEN_MAX_AGE_S = 3600
_FUTURE_SKEW_S = 300
_DEVICE_PATH = re.compile(r"^/3/device/([^/]*)$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
PUSH_TYPES = frozenset({
    "alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity",
    "pushtotalk", "widgets",
})
_TOPIC_SUFFIXES = {
    "voip": ".voip", "complication": ".complication", "fileprovider": ".pushkit.fileprovider",
    "liveactivity": ".push-type.liveactivity", "location": ".location-query", "pushtotalk": ".voip-ptt",
}
_PRIORITY_NAMES = {"10": "high", "5": "normal", "1": "low"}
_JWT_CACHE_LIMIT = 256

ResponseHeaders = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ApnsAnswer:
    """What to send back on the stream."""

    status: int
    headers: ResponseHeaders
    body: bytes


@dataclass(frozen=True, slots=True)
class _TokenVerdict:
    iat: float
    reason: str | None


class ApnsService:
    """Provider-API checks for one app (team, key id, bundle id), delivering into a ``PushSink``."""

    def __init__(
        self, *, key_id: str, team_id: str, bundle_id: str, public_key: ec.EllipticCurvePublicKey,
        sink: PushSink, faults: FaultInjector, now: WallClock = system_wall_clock,
    ) -> None:
        self._key_id = key_id
        self._team_id = team_id
        self._bundle_id = bundle_id
        self._public_key = public_key
        self._sink = sink
        self.faults = faults
        self._now = now
        self._verdicts: dict[str, _TokenVerdict] = {}

    def fault_answer(self, decision: FaultDecision, request_headers: dict[str, str]) -> ApnsAnswer:
        """The answer for an injected throttle, 5xx or credential fault."""
        apns_id = self._apns_id(request_headers)
        if decision.kind is FaultKind.THROTTLED:
            return _error(429, "TooManyRequests", apns_id, (("retry-after", str(decision.retry_after_s)),))
        if decision.kind is FaultKind.AUTH:
            return _error(403, "InvalidProviderToken", apns_id)
        if decision.kind is FaultKind.UNAVAILABLE:
            return _error(503, "ServiceUnavailable", apns_id)
        return _error(500, "InternalServerError", apns_id)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> ApnsAnswer:
        """Check and deliver one request."""
        raw_id = headers.get("apns-id")
        apns_id = self._apns_id(headers)
        if method != "POST":
            return _error(405, "MethodNotAllowed", apns_id)
        match = _DEVICE_PATH.match(path)
        if match is None:
            return _error(404, "BadPath", apns_id)
        token = match.group(1)
        reason = self._check_provider_token(headers.get("authorization"))
        if reason is not None:
            return _error(403, reason, apns_id)
        push_type = headers.get("apns-push-type", "alert")
        reason = self._check_headers(headers, push_type, raw_id)
        if reason is not None:
            return _error(400, reason, apns_id)
        if not token:
            return _error(400, "MissingDeviceToken", apns_id)
        limit = MAX_VOIP_PAYLOAD_BYTES if push_type == "voip" else MAX_PAYLOAD_BYTES
        if len(body) > limit:
            return _error(413, "PayloadTooLarge", apns_id)
        if not body:
            return _error(400, "PayloadEmpty", apns_id)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "BadPayload", apns_id)
        if not isinstance(payload, dict):
            return _error(400, "BadPayload", apns_id)
        if not isinstance(payload.get("aps"), dict):
            return _error(400, "PayloadEmpty", apns_id)
        push = self._inbound(token, apns_id, push_type, headers, payload, len(body))
        acceptance = self._sink.accept(push)
        if acceptance.status is AcceptanceStatus.ACCEPTED:
            return ApnsAnswer(200, [("apns-id", apns_id), ("apns-unique-id", str(uuid.uuid4()))], b"")
        if acceptance.status is AcceptanceStatus.UNREGISTERED:
            at = acceptance.unregistered_at
            stamp = int((at.timestamp() if at else self._now()) * 1000)
            return ApnsAnswer(
                410, [("apns-id", apns_id), ("content-type", "application/json")],
                orjson.dumps({"reason": "Unregistered", "timestamp": stamp}),
            )
        if acceptance.status is AcceptanceStatus.DEVICE_RATE_LIMITED:
            return _error(429, "TooManyRequests", apns_id)
        return _error(400, "BadDeviceToken", apns_id)

    def _apns_id(self, headers: dict[str, str]) -> str:
        raw_id = headers.get("apns-id")
        return raw_id.lower() if raw_id and _UUID.match(raw_id) else str(uuid.uuid4())

    def _check_provider_token(self, authorization: str | None) -> str | None:
        if not authorization:
            return "MissingProviderToken"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "MissingProviderToken"
        verdict = self._verdicts.get(token)
        if verdict is None:
            verdict = self._verify(token)
            if len(self._verdicts) >= _JWT_CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[token] = verdict
        if verdict.reason is not None:
            return verdict.reason
        now = self._now()
        if verdict.iat > now + _FUTURE_SKEW_S:
            return "InvalidProviderToken"
        if now - verdict.iat > PROVIDER_TOKEN_MAX_AGE_S or self.faults.token_expired(verdict.iat):
            return "ExpiredProviderToken"
        return None

    def _verify(self, token: str) -> _TokenVerdict:
        try:
            jws = parse_jws(token)
        except JwsError:
            return _TokenVerdict(0.0, "InvalidProviderToken")
        iat = numeric_claim(jws.claims, "iat")
        if (
            jws.header.get("kid") != self._key_id
            or jws.claims.get("iss") != self._team_id
            or iat is None
            or not verify_es256(jws, self._public_key)
        ):
            return _TokenVerdict(0.0, "InvalidProviderToken")
        return _TokenVerdict(iat, None)

    def _check_headers(self, headers: dict[str, str], push_type: str, raw_id: str | None) -> str | None:
        topic = headers.get("apns-topic")
        if not topic:
            return "MissingTopic"
        if push_type not in PUSH_TYPES:
            return "InvalidPushType"
        reason = self._check_topic(topic, push_type)
        if reason is not None:
            return reason
        priority = headers.get("apns-priority", "5" if push_type == "background" else "10")
        if priority not in _PRIORITY_NAMES or (push_type == "background" and priority != "5"):
            return "BadPriority"
        expiration = headers.get("apns-expiration")
        if expiration is not None and not expiration.strip().isdigit():
            return "BadExpirationDate"
        collapse_id = headers.get("apns-collapse-id")
        if collapse_id is not None and len(collapse_id.encode("utf-8", "surrogateescape")) > MAX_COLLAPSE_ID_BYTES:
            return "BadCollapseId"
        if raw_id is not None and not _UUID.match(raw_id):
            return "BadMessageId"
        return None

    def _check_topic(self, topic: str, push_type: str) -> str | None:
        expected = self._bundle_id + _TOPIC_SUFFIXES.get(push_type, "")
        if topic == expected:
            return None
        if topic == self._bundle_id or topic.startswith(self._bundle_id + "."):
            return "TopicDisallowed"
        return "DeviceTokenNotForTopic"

    def _inbound(
        self, token: str, apns_id: str, push_type: str, headers: dict[str, str], payload: dict[str, Any],
        size: int,
    ) -> InboundPush:
        received_at = utc_from_epoch(self._now())
        aps: dict[str, Any] = payload["aps"]
        data = {k: v for k, v in payload.items() if k != "aps"}
        collapse_id = headers.get("apns-collapse-id")
        alert = aps.get("alert")
        silent = push_type == "background" or (aps.get("content-available") == 1 and not alert)
        notification = None if silent else _rendered(aps, data, collapse_id)
        priority = headers.get("apns-priority", "5" if push_type == "background" else "10")
        return InboundPush(
            provider=Provider.APNS,
            token=token,
            message_id=apns_id,
            kind=PushKind.DATA if silent else PushKind.NOTIFICATION,
            received_at=received_at,
            notification=notification,
            data=data,
            collapse_key=collapse_id,
            expires_at=self._expires_at(headers.get("apns-expiration"), received_at),
            priority=_PRIORITY_NAMES[priority],
            size=size,
        )

    def _expires_at(self, expiration: str | None, received_at: datetime) -> datetime | None:
        if expiration is None:
            return utc_from_epoch(received_at.timestamp() + 30 * 24 * 3600)
        seconds = int(expiration)
        return utc_from_epoch(seconds) if seconds > received_at.timestamp() else None


def _rendered(aps: dict[str, Any], data: dict[str, Any], collapse_id: str | None) -> RenderedNotification:
    alert = aps.get("alert")
    fields: dict[str, Any] = alert if isinstance(alert, dict) else {"body": alert or ""}
    sound = aps.get("sound")
    badge = aps.get("badge")
    image = data.get("image_url") or data.get("image")
    link = data.get("deep_link") or data.get("url")
    buttons = tuple(
        Button(id=str(b.get("id", "")), label=str(b.get("label", "")), link=_text(b.get("link")))
        for b in data.get("buttons") or ()
        if isinstance(b, dict)
    )
    return RenderedNotification(
        title=str(fields.get("title") or ""),
        subtitle=str(fields.get("subtitle") or ""),
        body=str(fields.get("body") or ""),
        image=_text(image),
        buttons=buttons,
        deep_link=_text(link),
        badge=badge if isinstance(badge, int) and not isinstance(badge, bool) else None,
        sound=sound.get("name") if isinstance(sound, dict) else sound if isinstance(sound, str) else None,
        tray_key=collapse_id,
        category=aps.get("category") if isinstance(aps.get("category"), str) else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error(
    status: int, reason: str, apns_id: str, extra: tuple[tuple[str, str], ...] = ()
) -> ApnsAnswer:
    headers = [("apns-id", apns_id), ("content-type", "application/json"), *extra]
    return ApnsAnswer(status, headers, orjson.dumps({"reason": reason}))
