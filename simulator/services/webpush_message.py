"""Web Push payloads: RFC 8291 ``aes128gcm`` decryption and Herald's service-worker JSON.

``decrypt_aes128gcm`` opens a message with the subscription's private key and auth secret (via ``http_ece``,
the library pywebpush encrypts with). ``to_inbound_push`` reads the plaintext the way Herald's service worker
does (see ``core.domain.push_contract``): ``title``, ``body``, ``icon``, ``image``, ``actions`` → buttons,
``tag`` → tray key, ``data.url`` → deep link, ``data.links`` (action → URL) → button links, a numeric
``badge``; a message of type ``recall``, or one without a title and body,
is handed to the app code silently (``PushKind.DATA``).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import http_ece
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from core.domain import Provider
from core.domain.push_contract import HERALD_KEY, TYPE_RECALL
from simulator.inbound import Button, InboundPush, PushKind, RenderedNotification, WebPushKeys

_KEY_CACHE_LIMIT = 4096


class DecryptionFailed(ValueError):
    """The body is not an ``aes128gcm`` message for this subscription."""


class SubscriptionKeyCache:
    """Private-key objects built from ``WebPushKeys`` scalars, most recently used first."""

    def __init__(self, limit: int = _KEY_CACHE_LIMIT) -> None:
        self._limit = limit
        self._keys: OrderedDict[bytes, ec.EllipticCurvePrivateKey] = OrderedDict()

    def private_key(self, keys: WebPushKeys) -> ec.EllipticCurvePrivateKey:
        """The subscription's private key as a cryptography object."""
        key = self._keys.get(keys.private_key)
        if key is None:
            key = ec.derive_private_key(int.from_bytes(keys.private_key, "big"), ec.SECP256R1())
            self._keys[keys.private_key] = key
            if len(self._keys) > self._limit:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(keys.private_key)
        return key


def decrypt_aes128gcm(body: bytes, keys: WebPushKeys, private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The plaintext of one message; raises DecryptionFailed."""
    try:
        plaintext: bytes = http_ece.decrypt(
            body, private_key=private_key, auth_secret=keys.auth_secret, version="aes128gcm"
        )
    except Exception as exc:
        raise DecryptionFailed(str(exc) or type(exc).__name__) from exc
    return plaintext


def to_inbound_push(
    plaintext: bytes, *, subscription_id: str, message_id: str, received_at: datetime, ttl_s: int,
    topic: str | None, urgency: str,
) -> InboundPush:
    """What the subscription's service worker receives."""
    try:
        document: Any = orjson.loads(plaintext) if plaintext else {}
    except orjson.JSONDecodeError:
        document = {"text": plaintext.decode("utf-8", "replace")}
    if not isinstance(document, dict):
        document = {"value": document}
    herald = document.get(HERALD_KEY)
    data: dict[str, Any] = dict(document["data"]) if isinstance(document.get("data"), dict) else {}
    if isinstance(herald, dict):
        data[HERALD_KEY] = herald
    is_recall = isinstance(herald, dict) and herald.get("type") == TYPE_RECALL
    has_ui = bool(document.get("title") or document.get("body"))
    notification = _rendered(document, data) if has_ui and not is_recall else None
    if notification is None and "text" in document:
        data.setdefault("text", document["text"])
    return InboundPush(
        provider=Provider.WEBPUSH,
        token=subscription_id,
        message_id=message_id,
        kind=PushKind.NOTIFICATION if notification is not None else PushKind.DATA,
        received_at=received_at,
        notification=notification,
        data=data,
        collapse_key=topic,
        expires_at=received_at + timedelta(seconds=ttl_s) if ttl_s > 0 else None,
        priority=urgency,
        size=len(plaintext),
    )


def _rendered(document: dict[str, Any], data: dict[str, Any]) -> RenderedNotification:
    raw_links = data.get("links")
    links: dict[str, Any] = raw_links if isinstance(raw_links, dict) else {}
    buttons = tuple(
        Button(
            id=str(action.get("action", "")), label=str(action.get("title", "")),
            link=_str(action.get("url")) or _str(links.get(str(action.get("action", "")))),
        )
        for action in document.get("actions") or ()
        if isinstance(action, dict)
    )
    badge = document.get("badge")
    return RenderedNotification(
        title=str(document.get("title") or ""),
        body=str(document.get("body") or ""),
        image=_str(document.get("image")),
        icon=_str(document.get("icon")),
        buttons=buttons,
        deep_link=_str(data.get("url")),
        badge=badge if isinstance(badge, int) and not isinstance(badge, bool) else None,
        tray_key=_str(document.get("tag")),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
