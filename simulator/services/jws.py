"""Compact JWS parsing and signature checks for the three credentials the services verify.

google-auth's JWT-bearer grant is RS256, APNs provider tokens and VAPID tokens are ES256 (raw ``r || s``
signatures, RFC 7518 §3.4). Parsing and verifying are separate so a service can answer "bad key id" and
"bad signature" with the reasons its provider uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from simulator.credentials import b64url_decode


class JwsError(ValueError):
    """The token is not a well-formed compact JWS with JSON header and claims."""


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A parsed, not yet verified, compact JWS."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_jws(token: str) -> CompactJws:
    """Split and decode ``header.claims.signature``; raises JwsError when malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError("a compact JWS has three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeError) as exc:
        raise JwsError("undecodable JWS part") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwsError("JWS header and claims must be JSON objects")
    return CompactJws(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify_es256(jws: CompactJws, key: ec.EllipticCurvePublicKey) -> bool:
    """True when ``alg`` is ES256 and the raw P-256 signature is valid for ``key``."""
    if jws.header.get("alg") != "ES256" or len(jws.signature) != 64:
        return False
    r = int.from_bytes(jws.signature[:32], "big")
    s = int.from_bytes(jws.signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_rs256(jws: CompactJws, key: rsa.RSAPublicKey) -> bool:
    """True when ``alg`` is RS256 and the PKCS#1 v1.5 signature is valid for ``key``."""
    if jws.header.get("alg") != "RS256":
        return False
    try:
        key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def numeric_claim(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim as a float, or None when absent or not a number."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
