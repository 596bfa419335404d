"""Web Push message encryption (RFC 8291, ``aes128gcm``) and VAPID (RFC 8292) headers, cached per origin.

Encryption follows RFC 8291 directly with ``cryptography``: an ephemeral P-256 key, ECDH with the
subscription's ``p256dh``, HKDF-SHA-256 (one ``hmac.digest`` per step, every output fits one block) with its
``auth`` secret, one-shot AES-128-GCM over one record. It produces exactly what pywebpush's
``WebPusher(subscription).encode(data, "aes128gcm")`` produces (``tests/core/providers/test_webpush_crypto``
decrypts both with ``http_ece``) at about a third of its cost: pywebpush re-serialises keys and builds
several objects per message. It holds the GIL, so ``encrypt_many`` is a plain module-level function a
``ProcessPoolExecutor`` can run.

``VapidHeaders`` signs one ``Authorization: vapid t=…,k=…`` header per push-service origin (``aud``) with
py-vapid and reuses it until half its lifetime has passed (``exp`` ≤ 24 h by RFC 8292), instead of signing
per message as ``pywebpush.webpush()`` does.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from core.clock import Clock
from core.errors import CredentialError

#: Record size written in the header (RFC 8188); one record holds any payload a push service accepts.
RECORD_SIZE = 4096
_KEY_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"
_CURVE = ec.SECP256R1()


def _b64url_decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("key is not a string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("key is not base64url") from None


def encrypt(subscription: Mapping[str, Any], payload: bytes) -> bytes:
    """The ``aes128gcm`` body of ``payload`` for ``subscription`` (raises ValueError on unusable keys)."""
    try:
        keys = subscription["keys"]
        ua_public = _b64url_decode(keys["p256dh"])
        auth_secret = _b64url_decode(keys["auth"])
        receiver = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ua_public)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the subscription's keys are unusable: {exc!r}") from None
    if len(auth_secret) < 16:
        raise ValueError("the subscription's keys are unusable: auth secret shorter than 16 bytes")
    sender = ec.generate_private_key(_CURVE)
    as_public = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = sender.exchange(ec.ECDH(), receiver)
    # RFC 8291 §3.3-3.4: IKM from the ECDH secret and the auth secret, then RFC 8188's key and nonce.
    prk_key = hmac.digest(auth_secret, shared, "sha256")
    ikm = hmac.digest(prk_key, _KEY_INFO + ua_public + as_public + b"\x01", "sha256")
    salt = os.urandom(16)
    prk = hmac.digest(salt, ikm, "sha256")
    cek = hmac.digest(prk, _CEK_INFO, "sha256")[:16]
    nonce = hmac.digest(prk, _NONCE_INFO, "sha256")[:12]
    ciphertext = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)  # 0x02: last record, no padding
    return salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(as_public)]) + as_public + ciphertext


def encrypt_many(items: Sequence[tuple[Mapping[str, Any], bytes]]) -> list[bytes | str]:
    """Encrypt each (subscription, payload); an unusable subscription gives its error text instead of bytes."""
    out: list[bytes | str] = []
    for subscription, payload in items:
        try:
            out.append(encrypt(subscription, payload))
        except ValueError as exc:
            out.append(str(exc))
    return out


def origin_of(endpoint: str) -> str:
    """The ``aud`` for an endpoint: scheme, host and port."""
    parts = urlsplit(endpoint)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {endpoint!r}")
    return f"{parts.scheme}://{parts.netloc}"


class VapidHeaders:
    """The VAPID ``Authorization`` header per origin, signed once and re-signed at half its lifetime."""

    def __init__(self, private_key: str, subject: str, lifetime_s: int, clock: Clock, *, is_pem: bool = False) -> None:
        where = "given as text" if is_pem else private_key
        try:
            self._vapid = Vapid02.from_pem(private_key.encode()) if is_pem else Vapid02.from_file(private_key)
        except Exception as exc:  # py-vapid raises bare exceptions for unreadable keys
            raise CredentialError(f"the VAPID private key ({where}) is unusable: {type(exc).__name__}",
                                  "vapid_private_key") from None
        self._subject = subject
        self._lifetime = lifetime_s
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        #: How many JWTs were signed so far.
        self.signed = 0

    @property
    def vapid(self) -> Vapid02:
        """The loaded key pair (for the self-check)."""
        return self._vapid

    def authorization(self, origin: str) -> str:
        """The header value for ``origin``; a fresh signature only when the cached one is half-way to ``exp``."""
        now = self._clock.now().timestamp()
        cached = self._cache.get(origin)
        if cached is not None and now < cached[1] - self._lifetime / 2:
            return cached[0]
        exp = int(now) + self._lifetime
        header = self._vapid.sign({"aud": origin, "exp": exp, "sub": self._subject})["Authorization"]
        assert isinstance(header, str)
        self._cache[origin] = (header, float(exp))
        self.signed += 1
        return header
