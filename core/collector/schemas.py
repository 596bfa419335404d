"""Validation of what SDKs send: each payload becomes a typed value or a ValidationError naming the field.

Field paths in errors are dotted (``properties.delivery_id``, ``subscription.keys.auth``) so the answer
says exactly where the problem is.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain import LIFECYCLE_EVENT_STATES, DeliveryState, Platform, Provider
from core.domain.enums import PLATFORM_PROVIDERS
from core.errors import ValidationError

MAX_EVENTS_PER_BATCH = 1000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One validated SDK event."""

    event_id: str
    user: str
    name: str
    occurred_at: datetime
    properties: dict[str, Any]
    revenue: float | None
    #: The delivery a push lifecycle event is about, with the state it means.
    delivery_id: int | None
    delivery_state: DeliveryState | None


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """One validated device registration."""

    user: str
    platform: Platform
    provider: Provider
    token: str
    subscription: dict[str, Any] | None
    app_version: str | None
    locale: str | None
    timezone: str | None
    push_enabled: bool


def _require_str(obj: dict[str, Any], key: str, path: str, max_len: int, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{path} is required", path)
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{path} must be a non-empty string", path)
    if len(value) > max_len:
        raise ValidationError(f"{path} is longer than {max_len} characters", path)
    return value


def parse_instant(value: Any, path: str) -> datetime:
    """An ISO 8601 instant with a time zone (``Z`` or an offset), as aware UTC."""
    if not isinstance(value, str):
        raise ValidationError(f"{path} must be an ISO 8601 string such as 2026-11-29T12:00:00Z", path)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{path} is not an ISO 8601 time: {value[:40]!r}", path) from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{path} needs a time zone, e.g. {value}Z or {value}+03:00", path)
    return parsed.astimezone(UTC)


def _valid_name(name: str) -> bool:
    """Whether ``name`` is a valid event name; the few names a workspace uses are remembered."""
    if name in _KNOWN_NAMES:
        return True
    if not _NAME.match(name):
        return False
    if len(_KNOWN_NAMES) < 10_000:
        _KNOWN_NAMES.add(name)
    return True


_KNOWN_NAMES: set[str] = set()


def parse_event(raw: Any, prefix: str = "") -> IncomingEvent:
    """Validate one event object of a batch (the hot path of ingest: plain checks, no helpers per field)."""
    if type(raw) is not dict:
        raise ValidationError("each event must be a JSON object", prefix or None)
    event_id = raw.get("id")
    user = raw.get("user")
    name = raw.get("name")
    if type(event_id) is not str or not 0 < len(event_id) <= 128 or type(user) is not str \
            or not 0 < len(user) <= 128 or type(name) is not str or not _valid_name(name):
        # The slow path says exactly which field is wrong.
        _require_str(raw, "id", f"{prefix}id", 128)
        _require_str(raw, "user", f"{prefix}user", 128)
        _require_str(raw, "name", f"{prefix}name", 64)
        raise ValidationError(
            f"{prefix}name must start with a letter and use letters, digits, _ . : - only", f"{prefix}name"
        )
    if not event_id.strip() or not user.strip():
        _require_str(raw, "id", f"{prefix}id", 128)
        _require_str(raw, "user", f"{prefix}user", 128)
    occurred_at = parse_instant(raw.get("at"), f"{prefix}at")
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict:
        raise ValidationError(f"{prefix}properties must be a JSON object", f"{prefix}properties")
    revenue = raw.get("revenue")
    if revenue is not None:
        if isinstance(revenue, bool) or not isinstance(revenue, int | float) or not math.isfinite(revenue):
            raise ValidationError(f"{prefix}revenue must be a finite number", f"{prefix}revenue")
        revenue = float(revenue)
    delivery_id: int | None = None
    state = LIFECYCLE_EVENT_STATES.get(name)
    if state is not None:
        raw_id = properties.get("delivery_id")
        if isinstance(raw_id, str) and raw_id.isdigit():
            raw_id = int(raw_id)
        if isinstance(raw_id, bool) or not isinstance(raw_id, int) or raw_id <= 0:
            raise ValidationError(
                f"{name} needs properties.delivery_id, the id Herald put in the push",
                f"{prefix}properties.delivery_id",
            )
        delivery_id = raw_id
    return IncomingEvent(event_id, user, name, occurred_at, properties, revenue, delivery_id, state)


def _b64url_bytes(value: Any, path: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(f"{path} must be a base64url string", path)
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError(f"{path} is not valid base64url", path) from None
    if len(decoded) != length:
        raise ValidationError(f"{path} must decode to {length} bytes, not {len(decoded)}", path)
    return decoded


def parse_subscription(raw: Any) -> dict[str, Any]:
    """A Web Push subscription as a browser's ``PushSubscription.toJSON()`` gives it."""
    if not isinstance(raw, dict):
        raise ValidationError("subscription must be an object with endpoint and keys", "subscription")
    endpoint = _require_str(raw, "endpoint", "subscription.endpoint", 2048)
    assert endpoint is not None
    if not endpoint.startswith(("https://", "http://")):
        raise ValidationError("subscription.endpoint must be an http(s) URL", "subscription.endpoint")
    keys = raw.get("keys")
    if not isinstance(keys, dict):
        raise ValidationError("subscription.keys must hold p256dh and auth", "subscription.keys")
    p256dh = _b64url_bytes(keys.get("p256dh"), "subscription.keys.p256dh", 65)
    if p256dh[0] != 4:
        raise ValidationError("subscription.keys.p256dh must be an uncompressed P-256 point",
                              "subscription.keys.p256dh")
    _b64url_bytes(keys.get("auth"), "subscription.keys.auth", 16)
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def parse_registration(raw: Any) -> DeviceRegistration:
    """Validate a device registration body."""
    if not isinstance(raw, dict):
        raise ValidationError("the body must be a JSON object")
    user = _require_str(raw, "user", "user", 128)
    assert user is not None
    try:
        platform = Platform(str(raw.get("platform")))
    except ValueError:
        raise ValidationError("platform must be one of android, ios, web", "platform") from None
    try:
        provider = Provider(str(raw.get("provider")))
    except ValueError:
        raise ValidationError("provider must be one of fcm, apns, webpush", "provider") from None
    if provider not in PLATFORM_PROVIDERS[platform]:
        raise ValidationError(f"provider {provider} cannot reach platform {platform}", "provider")
    subscription: dict[str, Any] | None = None
    if provider is Provider.WEBPUSH:
        subscription = parse_subscription(raw.get("subscription"))
        token = subscription["endpoint"]
    else:
        token_value = _require_str(raw, "token", "token", 4096)
        assert token_value is not None
        token = token_value
    app_version = _require_str(raw, "app_version", "app_version", 32, required=False)
    locale = _require_str(raw, "locale", "locale", 35, required=False)
    if locale is not None and not _LOCALE.match(locale):
        raise ValidationError(f"locale {locale!r} is not a BCP 47 tag such as tr-TR", "locale")
    timezone = _require_str(raw, "timezone", "timezone", 64, required=False)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"timezone {timezone!r} is not an IANA zone such as Europe/Istanbul",
                                  "timezone") from None
    push_enabled = raw.get("push_enabled", True)
    if not isinstance(push_enabled, bool):
        raise ValidationError("push_enabled must be true or false", "push_enabled")
    return DeviceRegistration(user, platform, provider, token, subscription, app_version, locale, timezone,
                              push_enabled)
