"""The FCM v1 ``message`` object of an ``FcmRequest`` as firebase-admin ``messaging`` classes.

``core.composer.payloads`` builds the v1 JSON shape (``data``, ``notification``, ``android`` with
``priority``, ``ttl`` as ``"3600s"``, ``collapse_key`` and ``notification``); firebase-admin wants objects.
The target goes out as ``fid`` (firebase-admin 7 deprecates ``token``; FCM accepts both on the wire).
Unknown fields raise ``ValueError`` rather than being dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from firebase_admin import messaging

_MESSAGE_KEYS = {"data", "notification", "android"}
_NOTIFICATION_KEYS = {"title", "body", "image"}
_ANDROID_KEYS = {"priority", "ttl", "collapse_key", "notification", "restricted_package_name"}
_ANDROID_NOTIFICATION_KEYS = {
    "title", "body", "icon", "color", "sound", "tag", "click_action", "image", "channel_id", "notification_count",
    "body_loc_key", "title_loc_key",
}


def _check(kind: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"unsupported {kind} field(s): {', '.join(sorted(unknown))}")


def parse_ttl(value: Any) -> timedelta | None:
    """A v1 duration (``"3600s"``, ``"1.5s"``) or a number of seconds as a timedelta."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip()
    if not text.endswith("s"):
        raise ValueError(f"ttl must look like '3600s', not {text!r}")
    return timedelta(seconds=float(text[:-1]))


def _android_notification(raw: Mapping[str, Any]) -> messaging.AndroidNotification:
    _check("android.notification", raw, _ANDROID_NOTIFICATION_KEYS)
    return messaging.AndroidNotification(**dict(raw))


def _android(raw: Mapping[str, Any]) -> messaging.AndroidConfig:
    _check("android", raw, _ANDROID_KEYS)
    note = raw.get("notification")
    return messaging.AndroidConfig(
        collapse_key=raw.get("collapse_key"),
        priority=raw.get("priority"),
        ttl=parse_ttl(raw.get("ttl")),
        restricted_package_name=raw.get("restricted_package_name"),
        notification=_android_notification(note) if note else None,
    )


def to_message(token: str, message: Mapping[str, Any]) -> messaging.Message:
    """A ``messaging.Message`` addressed to ``token`` that encodes to ``message`` on the wire."""
    _check("message", message, _MESSAGE_KEYS)
    note = message.get("notification")
    if note:
        _check("notification", note, _NOTIFICATION_KEYS)
    android = message.get("android")
    data = message.get("data")
    return messaging.Message(
        fid=token,
        data=dict(data) if data else None,
        notification=messaging.Notification(**dict(note)) if note else None,
        android=_android(android) if android else None,
    )
