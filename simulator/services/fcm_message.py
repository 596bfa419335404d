"""FCM HTTP v1 ``Message`` validation, and its translation into what a device receives.

``parse_fcm_message`` checks a ``message`` object the way FCM does for the fields Herald uses (target, data
values, reserved keys, TTL range, priority, notification field types, payload size) and raises
``FcmInvalidArgument`` with FCM's wording; otherwise it returns an ``FcmMessage`` from which
``to_inbound_push`` builds the ``InboundPush`` handed to the fleet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from core.domain import Provider
from simulator.inbound import InboundPush, PushKind, RenderedNotification

MAX_PAYLOAD_BYTES = 4096
MAX_TTL_S = 28 * 24 * 3600
DEFAULT_TTL_S = MAX_TTL_S
TARGET_KEYS = ("token", "fid", "topic", "condition")
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")
_TTL = re.compile(r"^(\d+)(\.\d{1,9})?s$")
_NOTIFICATION_STRINGS = ("title", "body", "image")
_ANDROID_NOTIFICATION_STRINGS = (
    "title", "body", "icon", "color", "sound", "tag", "click_action", "channel_id", "image",
    "body_loc_key", "title_loc_key", "ticker", "notification_priority", "visibility",
)


class FcmInvalidArgument(ValueError):
    """The message breaks an FCM rule; ``str(exc)`` is FCM's message, ``field`` the offending field."""

    def __init__(self, message: str, field: str = "message") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class FcmMessage:
    """A validated FCM message."""

    target: str
    raw: dict[str, Any]
    ttl_s: float
    size: int


def parse_fcm_message(message: Any) -> FcmMessage:
    """Validate one ``message`` object; raises FcmInvalidArgument."""
    if not isinstance(message, dict):
        raise FcmInvalidArgument("Invalid JSON payload received. 'message' must be an object.")
    targets = [k for k in TARGET_KEYS if message.get(k)]
    if len(targets) != 1:
        raise FcmInvalidArgument("Exactly one of token, fid, topic or condition must be specified.")
    if targets[0] in ("topic", "condition"):
        raise FcmInvalidArgument("The simulator delivers to registration tokens only.", targets[0])
    target = message[targets[0]]
    if not isinstance(target, str):
        raise FcmInvalidArgument(f"Invalid value at 'message.{targets[0]}' (TYPE_STRING)", targets[0])
    _check_data(message.get("data"), "message.data")
    _check_strings(message.get("notification"), _NOTIFICATION_STRINGS, "message.notification")
    android = message.get("android") or {}
    if not isinstance(android, dict):
        raise FcmInvalidArgument("Invalid value at 'message.android'", "message.android")
    _check_data(android.get("data"), "message.android.data")
    _check_strings(android.get("notification"), _ANDROID_NOTIFICATION_STRINGS, "message.android.notification")
    priority = android.get("priority")
    if priority is not None and str(priority).lower() not in ("normal", "high"):
        raise FcmInvalidArgument(
            f"Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1."
            f"AndroidMessagePriority), \"{priority}\"", "message.android.priority",
        )
    collapse_key = android.get("collapse_key")
    if collapse_key is not None and not isinstance(collapse_key, str):
        raise FcmInvalidArgument("Invalid value at 'message.android.collapse_key'", "message.android.collapse_key")
    ttl_s = _ttl(android.get("ttl"))
    size = len(orjson.dumps({k: v for k, v in message.items() if k not in TARGET_KEYS}))
    if size > MAX_PAYLOAD_BYTES:
        raise FcmInvalidArgument(f"Message is too big ({size} bytes, limit {MAX_PAYLOAD_BYTES}).")
    return FcmMessage(target=target, raw=message, ttl_s=ttl_s, size=size)


def to_inbound_push(message: FcmMessage, *, message_id: str, received_at: datetime) -> InboundPush:
    """What the addressed device receives."""
    raw = message.raw
    android: dict[str, Any] = raw.get("android") or {}
    top: dict[str, Any] = raw.get("notification") or {}
    own: dict[str, Any] = android.get("notification") or {}
    data = {**(raw.get("data") or {}), **(android.get("data") or {})}
    notification = None
    if top or own:
        merged = {**top, **own}
        count = own.get("notification_count")
        notification = RenderedNotification(
            title=merged.get("title") or "",
            body=merged.get("body") or "",
            image=merged.get("image"),
            icon=own.get("icon"),
            deep_link=own.get("click_action"),
            badge=count if isinstance(count, int) else None,
            sound=own.get("sound"),
            tray_key=own.get("tag"),
            channel=own.get("channel_id"),
        )
    return InboundPush(
        provider=Provider.FCM,
        token=message.target,
        message_id=message_id,
        kind=PushKind.NOTIFICATION if notification is not None else PushKind.DATA,
        received_at=received_at,
        notification=notification,
        data=data,
        collapse_key=android.get("collapse_key"),
        expires_at=received_at + timedelta(seconds=message.ttl_s) if message.ttl_s > 0 else None,
        priority=str(android.get("priority") or "normal").lower(),
        size=message.size,
    )


def _check_data(data: Any, where: str) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        raise FcmInvalidArgument(f"Invalid value at '{where}'", where)
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):
            raise FcmInvalidArgument(f"Invalid value at '{where}[{index}].value' (TYPE_STRING), {value!r}", where)
        if key in _RESERVED_DATA_KEYS or key.startswith(_RESERVED_DATA_PREFIXES):
            raise FcmInvalidArgument(f"Invalid data payload key: {key}", where)


def _check_strings(section: Any, names: tuple[str, ...], where: str) -> None:
    if section is None:
        return
    if not isinstance(section, dict):
        raise FcmInvalidArgument(f"Invalid value at '{where}'", where)
    for name in names:
        value = section.get(name)
        if value is not None and not isinstance(value, str):
            raise FcmInvalidArgument(f"Invalid value at '{where}.{name}' (TYPE_STRING), {value!r}", f"{where}.{name}")
    count = section.get("notification_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise FcmInvalidArgument(f"Invalid value at '{where}.notification_count' (TYPE_INT32)", where)


def _ttl(value: Any) -> float:
    if value is None:
        return DEFAULT_TTL_S
    match = _TTL.match(value) if isinstance(value, str) else None
    if match is None:
        raise FcmInvalidArgument(
            f"Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {value!r}",
            "message.android.ttl",
        )
    seconds = int(match.group(1)) + float(match.group(2) or 0)
    if seconds > MAX_TTL_S:
        raise FcmInvalidArgument(
            "The value provided for message.android.ttl is out of range: the maximum is 2419200s (28 days).",
            "message.android.ttl",
        )
    return seconds

