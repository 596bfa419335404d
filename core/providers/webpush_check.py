"""VAPID self-check: the configured private key signs a JWT that verifies with the configured public key.

No push service is contacted: a Web Push "test connection" proves the key pair is whole and is the one
subscriptions were made with (``applicationServerKey``). A mismatch would make every push service answer
403, so it is reported with the field to fix.
"""

from __future__ import annotations

import base64
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from py_vapid import Vapid02

from core.domain import Provider
from core.providers.base import ConnectionCheck
from core.providers.settings import WebPushSettings


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_vapid(vapid: Vapid02, settings: WebPushSettings) -> ConnectionCheck:
    """Sign a JWT with the private key and verify it with the configured public key (and the key's own)."""
    own = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    facts = {"public_key": _b64url(own), "subject": settings.subject}
    configured = own
    if settings.vapid_public_key:
        try:
            configured = _b64url_decode(settings.vapid_public_key.strip())
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), configured)
        except ValueError:
            return ConnectionCheck(Provider.WEBPUSH, False, "vapid_public_key is not a P-256 public key in "
                                   "base64url (65-byte uncompressed point)", facts)
    else:
        public = vapid.public_key
    header = vapid.sign({"aud": "https://push.example.invalid", "exp": int(time.time()) + 600,
                         "sub": settings.subject})["Authorization"]
    token = header.split("t=", 1)[1].split(",", 1)[0]
    signing_input, _, signature = token.rpartition(".")
    raw = _b64url_decode(signature)
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return ConnectionCheck(Provider.WEBPUSH, False, "vapid_public_key does not belong to the VAPID private "
                               "key: push services would answer 403 for every subscription made with it", facts)
    if configured != own:
        return ConnectionCheck(Provider.WEBPUSH, False, "vapid_public_key does not match the private key", facts)
    return ConnectionCheck(Provider.WEBPUSH, True, "the VAPID private key signs tokens that verify with the "
                           "configured public key", facts)
