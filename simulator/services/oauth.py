"""The OAuth 2.0 token endpoint that google-auth's service-account credentials refresh against.

google-auth posts a JWT-bearer grant (RFC 7523): an RS256 JWT whose header ``kid`` is the service account's
``private_key_id`` and whose ``iss`` is its ``client_email``. The grant's ``aud`` is always Google's own
token URL, even when ``token_uri`` points here, so it is deliberately not compared with this endpoint.
A valid grant earns an opaque bearer token that the FCM service checks with ``AccessTokens.check``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from urllib.parse import parse_qs

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from simulator.services.asgi import AsgiApp, Request, Response, json_response, service_app
from simulator.services.faults import FaultDecision, FaultInjector, FaultKind
from simulator.services.jws import JwsError, numeric_claim, parse_jws, verify_rs256

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_S = 3600
#: Google refuses grants meant to live longer than an hour; a little slack for clock skew.
_MAX_GRANT_LIFETIME_S = 3600 + 300
_CLOCK_SKEW_S = 300


class TokenStatus(StrEnum):
    """What ``AccessTokens.check`` found."""

    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"


class AccessTokens:
    """Opaque access tokens this endpoint issued, with their issue times."""

    def __init__(
        self, faults: FaultInjector, *, now: Callable[[], float] = time.time,
        lifetime_s: int = TOKEN_LIFETIME_S,
    ) -> None:
        self._faults = faults
        self._now = now
        self._lifetime = lifetime_s
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A fresh token valid for ``lifetime_s``."""
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        now = self._now()
        with self._lock:
            self._prune(now)
            self._issued[token] = now
        return token

    def check(self, token: str) -> TokenStatus:
        """Whether ``token`` is one of ours and still valid (fault-injected expiry included)."""
        issued_at = self._issued.get(token)
        if issued_at is None:
            return TokenStatus.UNKNOWN
        if self._now() >= issued_at + self._lifetime or self._faults.token_expired(issued_at):
            return TokenStatus.EXPIRED
        return TokenStatus.VALID

    def _prune(self, now: float) -> None:
        if len(self._issued) < 1024:
            return
        horizon = now - self._lifetime
        self._issued = {t: at for t, at in self._issued.items() if at > horizon}


class OAuthService:
    """``POST /token``: verifies the service account's grant and issues access tokens."""

    def __init__(
        self, *, client_email: str, private_key_id: str, public_key: rsa.RSAPublicKey,
        faults: FaultInjector, tokens: AccessTokens, now: Callable[[], float] = time.time,
    ) -> None:
        self._client_email = client_email
        self._private_key_id = private_key_id
        self._public_key = public_key
        self._faults = faults
        self.tokens = tokens
        self._now = now

    def asgi(self) -> AsgiApp:
        """This service as an ASGI application."""
        return service_app(self.handle, self._faults, _fault_response)

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        if request.path != "/token":
            return json_response(404, {"error": "not_found"})
        if request.method != "POST":
            return json_response(405, {"error": "invalid_request"})
        form = _form(request)
        if form.get("grant_type") != JWT_BEARER:
            return _error(400, "unsupported_grant_type", "Invalid grant_type.")
        failure = self._check_assertion(form.get("assertion", ""))
        if failure is not None:
            return _error(400, "invalid_grant", failure)
        return json_response(
            200,
            {"access_token": self.tokens.issue(), "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"},
            headers=(("cache-control", "no-store"),),
        )

    def _check_assertion(self, assertion: str) -> str | None:
        try:
            jws = parse_jws(assertion)
        except JwsError:
            return "Invalid JWT: could not parse the assertion."
        if jws.header.get("kid") != self._private_key_id or not verify_rs256(jws, self._public_key):
            return "Invalid JWT Signature."
        if jws.claims.get("iss") != self._client_email:
            return "Invalid email or User ID"
        iat, exp = numeric_claim(jws.claims, "iat"), numeric_claim(jws.claims, "exp")
        now = self._now()
        if (
            iat is None or exp is None or exp <= now or iat > now + _CLOCK_SKEW_S
            or exp - iat > _MAX_GRANT_LIFETIME_S
        ):
            return (
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim."
            )
        return None


def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    parsed = parse_qs(request.body.decode("utf-8", "replace"))
    return {k: v[0] for k, v in parsed.items()}


def _error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _fault_response(decision: FaultDecision) -> Response:
    if decision.kind is FaultKind.THROTTLED:
        return json_response(
            429, {"error": "rate_limit_exceeded"}, headers=(("retry-after", str(decision.retry_after_s)),)
        )
    if decision.kind is FaultKind.AUTH:
        return _error(401, "invalid_client", "The OAuth client was disabled.")
    if decision.kind is FaultKind.UNAVAILABLE:
        return json_response(503, {"error": "temporarily_unavailable"})
    return json_response(500, {"error": "internal_failure"})
