"""Web Push encryption (RFC 8291 aes128gcm) done directly with ``cryptography``: the same bytes on the wire
as pywebpush's, decryptable by ``http_ece`` (the reference implementation) and by the simulator."""

from __future__ import annotations

import base64
import os

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pywebpush import WebPusher

from core.providers.webpush_crypto import RECORD_SIZE, encrypt, encrypt_many


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def browser() -> tuple[ec.EllipticCurvePrivateKey, bytes, dict[str, object]]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    subscription = {"endpoint": "https://push.example/abc", "keys": {"p256dh": _b64(public), "auth": _b64(auth)}}
    return key, auth, subscription


@pytest.mark.parametrize("payload", [b"", b'{"title":"Flash sale","body":"40% off"}', os.urandom(3993)])
def test_the_browser_decrypts_what_was_encrypted(browser: tuple, payload: bytes) -> None:
    key, auth, subscription = browser
    body = encrypt(subscription, payload)
    assert http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm") == payload


def test_header_and_size_match_pywebpush(browser: tuple) -> None:
    key, auth, subscription = browser
    payload = b'{"title":"Flash sale"}'
    ours = encrypt(subscription, payload)
    theirs = WebPusher(subscription).encode(payload, "aes128gcm")["body"]
    assert len(ours) == len(theirs)
    assert ours[16:21] == theirs[16:21] == RECORD_SIZE.to_bytes(4, "big") + bytes([65])
    assert ours[:16] != theirs[:16]  # a fresh salt and ephemeral key per message
    assert http_ece.decrypt(theirs, private_key=key, auth_secret=auth, version="aes128gcm") == payload


def test_every_message_uses_a_new_ephemeral_key(browser: tuple) -> None:
    _, _, subscription = browser
    first, second = encrypt(subscription, b"x"), encrypt(subscription, b"x")
    assert first[21:86] != second[21:86]


@pytest.mark.parametrize("keys", [
    {"p256dh": "not base64!", "auth": _b64(b"a" * 16)},
    {"p256dh": _b64(b"\x04" + b"\x01" * 64), "auth": _b64(b"a" * 16)},  # not a point on the curve
    {"auth": _b64(b"a" * 16)},
    {"p256dh": _b64(b"\x04" + b"\x01" * 64)},
])
def test_unusable_keys_raise_value_error(keys: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="keys are unusable"):
        encrypt({"endpoint": "https://push.example/abc", "keys": keys}, b"hello")


def test_encrypt_many_reports_an_unusable_subscription_as_text(browser: tuple) -> None:
    key, auth, subscription = browser
    bad = {"endpoint": "https://push.example/bad", "keys": {"p256dh": "??", "auth": "??"}}
    good_body, bad_text = encrypt_many([(subscription, b"hi"), (bad, b"hi")])
    assert isinstance(good_body, bytes) and isinstance(bad_text, str)
    assert http_ece.decrypt(good_body, private_key=key, auth_secret=auth, version="aes128gcm") == b"hi"
