"""APNs over HTTP/2 with httpx: one multiplexed connection, a cached ES256 provider token, classified answers.

``ApnsProvider`` keeps one ``httpx.AsyncClient`` limited to one connection (TLS with an explicit
``ssl.SSLContext``, or h2c with prior knowledge for ``http://`` URLs) and runs a batch's requests
concurrently on it, at most ``max_in_flight`` at once; httpcore additionally honours the server's
SETTINGS_MAX_CONCURRENT_STREAMS. A GOAWAY is handled by httpcore: streams the server did not take are
retried on a fresh connection, the ones it took complete, and a stream reset with REFUSED_STREAM (never
processed, RFC 9113 §8.7) is sent again, at most ``_REFUSED_RETRIES`` times.

The provider token (JWT: ``kid``, ``iss`` = team, ``iat``) is signed once and reused until it is
``token_refresh_s`` old on the injected clock; a 403 ``ExpiredProviderToken`` re-signs it once (shared by every
request that saw the same stale token) and retries that request once.

Answers::

    200                              SendResult(message_id=apns-id)
    400 BadDeviceToken               TokenInvalid
    410 Unregistered                 TokenInvalid(invalid_since=timestamp ms)
    400 topic reasons, 403           AuthFailed (DeviceTokenNotForTopic… / InvalidProviderToken…)
    400 other reasons, 413           PayloadRejected
    429                              Throttled(retry_after)
    500, 503 (other 5xx)             Transient(retry_after)
    reset / protocol error after send Transient(ambiguous=True)
    connect failure                  Transient(ambiguous=False)
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import h2.errors
import h2.events
import httpx
import jwt

from core.clock import Clock, SystemClock
from core.domain import Provider
from core.errors import (
    AuthFailed,
    ConfigurationError,
    PayloadRejected,
    ProviderError,
    Throttled,
    TokenInvalid,
    Transient,
)
from core.providers.answers import parse_retry_after
from core.providers.base import ApnsRequest, ConnectionCheck, Outcome, PushRequest, SendResult
from core.providers.settings import ApnsSettings

#: A syntactically valid token no device has: "test connection" expects 400 BadDeviceToken for it.
DUMMY_DEVICE_TOKEN = "0" * 64
_CHECK_PAYLOAD = b'{"aps":{"content-available":1}}'
#: A stream refused after a GOAWAY was not processed: it is sent again (on a new connection) this many times.
_REFUSED_RETRIES = 3
_REFUSED = "REFUSED_STREAM"
#: 400 reasons that mean the topic (our app identity) is wrong, not the message.
_TOPIC_REASONS = frozenset({"DeviceTokenNotForTopic", "TopicDisallowed", "MissingTopic", "BadTopic"})


class ProviderTokenCache:
    """The APNs provider token: signed once, reused, re-signed when ``refresh_s`` old or when APNs says expired."""

    def __init__(self, key_pem: bytes, key_id: str, team_id: str, refresh_s: float, clock: Clock) -> None:
        self._key = key_pem
        self._key_id = key_id
        self._team_id = team_id
        self._refresh_s = refresh_s
        self._clock = clock
        self._token: str | None = None
        self._signed_at = 0.0
        #: How many tokens were signed so far (tests and "test connection" read it).
        self.signed = 0

    def current(self) -> str:
        """The token to send now (signed anew only when it has aged out)."""
        if self._token is None or self._clock.monotonic() - self._signed_at >= self._refresh_s:
            self._sign()
        assert self._token is not None
        return self._token

    def expired(self, seen: str) -> str:
        """APNs called ``seen`` expired: re-sign unless another request already did; the token to retry with."""
        if seen == self._token:
            self._sign()
        return self.current()

    def _sign(self) -> None:
        iat = int(self._clock.now().timestamp())
        self._token = jwt.encode({"iss": self._team_id, "iat": iat}, self._key, algorithm="ES256",
                                 headers={"kid": self._key_id})
        self._signed_at = self._clock.monotonic()
        self.signed += 1


def _ssl_context(ca_cert_path: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_cert_path:
        context.load_verify_locations(cafile=ca_cert_path)
    context.set_alpn_protocols(["h2"])
    return context


class ApnsProvider:
    """Sends ``ApnsRequest``s for one app (topic) and one key over one HTTP/2 connection."""

    provider = Provider.APNS

    def __init__(self, settings: ApnsSettings, *, clock: Clock | None = None) -> None:
        if settings.key_pem is not None:
            key = settings.key_pem.encode()
        else:
            try:
                key = Path(str(settings.key_path)).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"cannot read the APNs key file {settings.key_path}: {exc.strerror}") from None
        self.settings = settings
        self._base = settings.base_url.rstrip("/")
        self.tokens = ProviderTokenCache(key, settings.key_id, settings.team_id, settings.token_refresh_s,
                                         clock or SystemClock())
        self._limit = asyncio.Semaphore(settings.max_in_flight)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            timeout = httpx.Timeout(self.settings.timeout_s)
            if self._base.startswith("http://"):
                self._client = httpx.AsyncClient(http1=False, http2=True, limits=limits, timeout=timeout)
            else:
                self._client = httpx.AsyncClient(http2=True, verify=_ssl_context(self.settings.ca_cert_path),
                                                 limits=limits, timeout=timeout)
        return self._client

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        """Send all requests concurrently on the connection; one outcome per request, in order."""
        return list(await asyncio.gather(*(self.send(r) for r in _apns_only(requests))))

    async def send(self, request: ApnsRequest) -> Outcome:
        """Send one request (retrying once after ExpiredProviderToken)."""
        async with self._limit:
            token = self.tokens.current()
            outcome, reason = await self._post(request, token)
            if reason == "ExpiredProviderToken":
                outcome, _ = await self._post(request, self.tokens.expired(token))
            return outcome

    async def _post(self, request: ApnsRequest, token: str) -> tuple[Outcome, str | None]:
        for _ in range(_REFUSED_RETRIES):
            outcome, reason = await self._post_once(request, token)
            if reason != _REFUSED:
                return outcome, reason
        return outcome, None

    async def _post_once(self, request: ApnsRequest, token: str) -> tuple[Outcome, str | None]:
        headers = {
            "authorization": f"bearer {token}",
            "apns-topic": self.settings.topic,
            "apns-push-type": request.push_type,
            "apns-priority": str(request.priority),
            "apns-expiration": str(request.expiration),
        }
        if request.collapse_id:
            headers["apns-collapse-id"] = request.collapse_id
        if request.apns_id:
            headers["apns-id"] = request.apns_id
        try:
            response = await self._http().post(f"{self._base}/3/device/{request.token}", headers=headers,
                                               content=request.payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            return Transient(f"APNs could not be reached: {type(exc).__name__}", code=type(exc).__name__), None
        except httpx.TransportError as exc:
            if _refused(exc):
                return Transient("APNs refused the stream after a GOAWAY; it was not processed",
                                 code="REFUSED_STREAM"), _REFUSED
            return Transient(f"the APNs connection failed after the request was sent: {type(exc).__name__}",
                             code=type(exc).__name__, ambiguous=True), None
        return classify(response.status_code, response.headers, response.content)

    async def check_connection(self) -> ConnectionCheck:
        """A push to a dummy token; see ``check_apns``."""
        return await check_apns(self)

    async def aclose(self) -> None:
        """Close the connection (a later send opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _refused(exc: httpx.TransportError) -> bool:
    """True when the server reset our stream with REFUSED_STREAM: it guarantees the request was not processed."""
    cause = exc.__cause__ or exc.__context__
    event = cause.args[0] if cause is not None and cause.args else None
    return isinstance(event, h2.events.StreamReset) and event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM


def _apns_only(requests: Sequence[PushRequest]) -> list[ApnsRequest]:
    for r in requests:
        if not isinstance(r, ApnsRequest):
            raise TypeError(f"the APNs provider cannot send a {type(r).__name__}")
    return list(requests)  # type: ignore[arg-type]


def classify(status: int, headers: httpx.Headers, body: bytes) -> tuple[Outcome, str | None]:
    """The outcome of one APNs answer, and its ``reason`` (None on success)."""
    if status == 200:
        return SendResult(message_id=headers.get("apns-id")), None
    reason, timestamp = _reason(body)
    code = reason or str(status)
    text = f"APNs answered {status} {reason or ''}".rstrip()
    error: ProviderError
    if status == 410 or (status == 400 and reason == "BadDeviceToken"):
        since = datetime.fromtimestamp(timestamp / 1000, UTC) if timestamp is not None else None
        error = TokenInvalid(text, code=code, status=status, invalid_since=since)
    elif status == 403 or reason in _TOPIC_REASONS:
        error = AuthFailed(text, code=code, status=status)
    elif status in (400, 413):
        error = PayloadRejected(text, code=code, status=status)
    elif status == 429:
        error = Throttled(text, code=code, status=status, retry_after=parse_retry_after(headers.get("retry-after")))
    elif status >= 500:
        error = Transient(text, code=code, status=status, retry_after=parse_retry_after(headers.get("retry-after")))
    else:
        error = PayloadRejected(text, code=code, status=status)
    return error, reason


def _reason(body: bytes) -> tuple[str | None, int | None]:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    reason = data.get("reason")
    stamp = data.get("timestamp")
    return (reason if isinstance(reason, str) else None), (int(stamp) if isinstance(stamp, int | float) else None)


async def check_apns(provider: ApnsProvider) -> ConnectionCheck:
    """Send a background push to a dummy token: 400 BadDeviceToken proves the key, team and topic work."""
    probe = ApnsRequest(DUMMY_DEVICE_TOKEN, _CHECK_PAYLOAD, push_type="background", priority=5)
    outcome = await provider.send(probe)
    facts = {"url": provider.settings.base_url, "key_id": provider.settings.key_id,
             "team_id": provider.settings.team_id, "topic": provider.settings.topic}
    if isinstance(outcome, TokenInvalid) and outcome.code == "BadDeviceToken":
        return ConnectionCheck(Provider.APNS, True, "APNs accepted the provider token and topic (the dummy device "
                               "token was refused as BadDeviceToken, as expected)", facts)
    if isinstance(outcome, SendResult):
        return ConnectionCheck(Provider.APNS, True, "APNs accepted a push to the dummy token", facts)
    assert isinstance(outcome, ProviderError)
    facts["answer"] = outcome.code or ""
    if isinstance(outcome, AuthFailed):
        detail = f"APNs refused the provider token ({outcome.code}): check the key file, key id and team id"
    elif isinstance(outcome, PayloadRejected):
        detail = f"APNs refused the request ({outcome.code}): check the topic (bundle id)"
    else:
        detail = f"APNs could not be checked: {outcome}"
    return ConnectionCheck(Provider.APNS, False, detail, facts)
