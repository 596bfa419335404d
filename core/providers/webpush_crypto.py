"""Web Push message encryption (RFC 8291, ``aes128gcm``) and VAPID (RFC 8292) headers, cached per origin.

Encryption is pywebpush's own (``WebPusher(subscription).encode``): an ephemeral P-256 key, ECDH with the
subscription's ``p256dh``, HKDF with its ``auth`` secret, AES-GCM. It costs ~130 µs a message and holds the
GIL, so ``encrypt_many`` is a plain module-level function a ``ProcessPoolExecutor`` can run.

``VapidHeaders`` signs one ``Authorization: vapid t=…,k=…`` header per push-service origin (``aud``) with
py-vapid and reuses it until half its lifetime has passed (``exp`` ≤ 24 h by RFC 8292), instead of signing
per message as ``pywebpush.webpush()`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from core.clock import Clock
from core.errors import CredentialError


def encrypt(subscription: Mapping[str, Any], payload: bytes) -> bytes:
    """The ``aes128gcm`` body of ``payload`` for ``subscription`` (raises ValueError on unusable keys)."""
    try:
        encoded = WebPusher(subscription).encode(payload, "aes128gcm")
    except (WebPushException, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"the subscription's keys are unusable: {exc}") from None
    body = encoded["body"]
    assert isinstance(body, bytes)
    return body


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
