"""VAPID (RFC 8292): who is sending a Web Push message, checked against the subscription.

``parse_vapid`` reads ``Authorization: vapid t=<JWT>,k=<key>`` and the legacy pair
``Authorization: WebPush <JWT>`` + ``Crypto-Key: p256ecdsa=<key>``. ``VapidVerifier.check`` then verifies the
ES256 signature with ``k``, that ``k`` is the subscription's ``applicationServerKey``, that ``aud`` is the
endpoint's origin, that ``exp`` lies in the future but at most 24 hours ahead, and that ``sub`` is a
``mailto:`` or ``https:`` URI. A token is verified once and its verdict cached, so senders that reuse a
header per origin (as they should) cost one dictionary lookup a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import ec

from simulator.credentials import b64url_decode
from simulator.services.clock import WallClock, system_wall_clock
from simulator.services.jws import JwsError, numeric_claim, parse_jws, verify_es256

MAX_EXPIRY_AHEAD_S = 24 * 3600
_CACHE_LIMIT = 1024


class VapidFailure(StrEnum):
    """Why a VAPID check failed; ``KEY_MISMATCH`` answers 403, the others 401."""

    MISSING = "missing VAPID authorization"
    MALFORMED = "malformed VAPID authorization"
    BAD_SIGNATURE = "VAPID signature does not verify with k"
    KEY_MISMATCH = "k is not the subscription's applicationServerKey"
    BAD_AUDIENCE = "aud is not the push endpoint's origin"
    EXPIRED = "exp is in the past or more than 24 hours ahead"
    BAD_SUBJECT = "sub must be a mailto: or https: URI"


@dataclass(frozen=True, slots=True)
class VapidCredential:
    """The JWT and raw public key a request presented."""

    token: str
    key: bytes


@dataclass(frozen=True, slots=True)
class _Verdict:
    aud: str
    exp: float
    failure: VapidFailure | None


def parse_vapid(authorization: str | None, crypto_key: str | None) -> VapidCredential | VapidFailure:
    """The credential in the headers, or why there is none usable."""
    if not authorization:
        return VapidFailure.MISSING
    scheme, _, rest = authorization.strip().partition(" ")
    params: dict[str, str] = {}
    if scheme.lower() == "vapid":
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            params[name.strip().lower()] = value.strip()
    elif scheme.lower() == "webpush":
        params["t"] = rest.strip()
        for part in (crypto_key or "").replace(",", ";").split(";"):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == "p256ecdsa":
                params["k"] = value.strip().strip('"')
    else:
        return VapidFailure.MALFORMED
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        return VapidFailure.MALFORMED
    try:
        raw_key = b64url_decode(key)
    except ValueError:
        return VapidFailure.MALFORMED
    return VapidCredential(token, raw_key)


class VapidVerifier:
    """Checks VAPID credentials against subscriptions; caches signature verdicts per token."""

    def __init__(self, *, now: WallClock = system_wall_clock) -> None:
        self._now = now
        self._verdicts: dict[tuple[str, bytes], _Verdict] = {}
        self._keys: dict[bytes, ec.EllipticCurvePublicKey | None] = {}

    def check(self, credential: VapidCredential, application_server_key: bytes, origin: str) -> VapidFailure | None:
        """None when the credential authorises a push to this subscription at ``origin``."""
        cache_key = (credential.token, credential.key)
        verdict = self._verdicts.get(cache_key)
        if verdict is None:
            verdict = self._verify(credential)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[cache_key] = verdict
        if verdict.failure is not None:
            return verdict.failure
        if credential.key != application_server_key:
            return VapidFailure.KEY_MISMATCH
        if verdict.aud.rstrip("/") != origin:
            return VapidFailure.BAD_AUDIENCE
        now = self._now()
        if not now < verdict.exp <= now + MAX_EXPIRY_AHEAD_S:
            return VapidFailure.EXPIRED
        return None

    def _verify(self, credential: VapidCredential) -> _Verdict:
        try:
            jws = parse_jws(credential.token)
        except JwsError:
            return _Verdict("", 0.0, VapidFailure.MALFORMED)
        key = self._public_key(credential.key)
        if key is None:
            return _Verdict("", 0.0, VapidFailure.MALFORMED)
        if not verify_es256(jws, key):
            return _Verdict("", 0.0, VapidFailure.BAD_SIGNATURE)
        aud, sub, exp = jws.claims.get("aud"), jws.claims.get("sub"), numeric_claim(jws.claims, "exp")
        if not isinstance(aud, str):
            return _Verdict("", 0.0, VapidFailure.BAD_AUDIENCE)
        if exp is None:
            return _Verdict(aud, 0.0, VapidFailure.EXPIRED)
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            return _Verdict(aud, exp, VapidFailure.BAD_SUBJECT)
        return _Verdict(aud, exp, None)

    def _public_key(self, raw: bytes) -> ec.EllipticCurvePublicKey | None:
        if raw not in self._keys:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            try:
                self._keys[raw] = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
            except ValueError:
                self._keys[raw] = None
        return self._keys[raw]
