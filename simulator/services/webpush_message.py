"""Web Push payloads: RFC 8291 ``aes128gcm`` decryption and Herald's service-worker JSON.

``decrypt_aes128gcm`` opens a message with the subscription's private key and auth secret: RFC 8291 key
derivation (ECDH, then HMAC-SHA-256 HKDF steps) and RFC 8188 records, written on ``cryptography``'s ECDH and
one-shot AES-GCM and ``hmac.digest`` (about half the cost of ``http_ece``, whose output it matches; the
tests decrypt what pywebpush encrypts). ``to_inbound_push`` reads the plaintext the way Herald's service worker
does (see ``core.domain.push_contract``): ``title``, ``body``, ``icon``, ``image``, ``actions`` → buttons,
``tag`` → tray key, ``data.url`` → deep link, ``data.links`` (action → URL) → button links, a numeric
``badge``; a message of type ``recall``, or one without a title and body,
is handed to the app code silently (``PushKind.DATA``).
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.domain import Provider
from core.domain.push_contract import HERALD_KEY, TYPE_RECALL
from simulator.inbound import Button, InboundPush, PushKind, RenderedNotification, WebPushKeys

_KEY_CACHE_LIMIT = 4096
_TAG_BYTES = 16
_SENDER_KEY_BYTES = 65
_KEY_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"


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
    if len(body) < 21:
        raise DecryptionFailed("truncated aes128gcm header")
    salt, rs, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    sender_key = body[21 : 21 + id_length]
    if id_length != _SENDER_KEY_BYTES or len(sender_key) != id_length or rs <= _TAG_BYTES + 1:
        raise DecryptionFailed("the aes128gcm header does not carry a P-256 sender key and a record size")
    try:
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_key)
        secret = private_key.exchange(ec.ECDH(), sender)
    except ValueError as exc:
        raise DecryptionFailed("the sender key is not a P-256 point") from exc
    prk_key = hmac.digest(keys.auth_secret, secret, "sha256")
    ikm = hmac.digest(prk_key, _KEY_INFO + keys.public_key + sender_key + b"\x01", "sha256")
    prk = hmac.digest(salt, ikm, "sha256")
    aead = AESGCM(hmac.digest(prk, _CEK_INFO, "sha256")[:16])
    nonce = int.from_bytes(hmac.digest(prk, _NONCE_INFO, "sha256")[:12], "big")
    content = body[21 + id_length :]
    records = [content[i : i + rs] for i in range(0, len(content), rs)] or [b""]
    out = []
    for counter, record in enumerate(records):
        try:
            padded = aead.decrypt((nonce ^ counter).to_bytes(12, "big"), record, None)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed("the record does not decrypt with this subscription's keys") from exc
        data = padded.rstrip(b"\x00")
        last = counter == len(records) - 1
        if not data or data[-1] != (2 if last else 1):
            raise DecryptionFailed("bad record delimiter")
        out.append(data[:-1])
    return b"".join(out)


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
