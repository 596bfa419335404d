"""Web Push (RFC 8030) with pywebpush's encryption, cached VAPID headers and one shared aiohttp session.

``WebPushProvider.send_batch`` encrypts each message for its subscription and POSTs it with
``Content-Encoding: aes128gcm``, a real ``TTL``, ``Urgency``, ``Topic`` (when the request has one) and the
VAPID ``Authorization`` header of the endpoint's origin, at most ``max_in_flight`` requests at once on one
``aiohttp.ClientSession`` (created lazily in the running loop).

Encryption holds the GIL (~130 µs a message). A batch of at least ``process_pool_threshold`` messages is
encrypted in a ``ProcessPoolExecutor`` (spawned on first use, shut down by ``aclose``) in chunks, and each
chunk is sent as soon as it is ready, so sending overlaps encrypting.

Answers::

    201                    SendResult(message_id=Location)
    404, 410               TokenInvalid (subscription gone)
    400, 413               PayloadRejected
    401, 403               AuthFailed (VAPID refused / key mismatch)
    429                    Throttled(retry_after)
    5xx                    Transient(retry_after)
    reset after sending    Transient(ambiguous=True); connect failure Transient(ambiguous=False)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiohttp

from core.clock import Clock, SystemClock
from core.domain import Provider
from core.errors import AuthFailed, PayloadRejected, ProviderError, Throttled, TokenInvalid, Transient
from core.providers.answers import parse_retry_after
from core.providers.base import ConnectionCheck, Outcome, PushRequest, SendResult, WebPushRequest
from core.providers.settings import WebPushSettings
from core.providers.webpush_check import check_vapid
from core.providers.webpush_crypto import VapidHeaders, encrypt, encrypt_many, origin_of

#: Messages per process-pool task: large enough to amortise pickling, small enough to start sending early.
POOL_CHUNK = 64


class WebPushProvider:
    """Sends ``WebPushRequest``s signed with one VAPID key."""

    provider = Provider.WEBPUSH

    def __init__(self, settings: WebPushSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        pem = settings.vapid_private_key_pem
        self.vapid = VapidHeaders(pem if pem is not None else str(settings.vapid_private_key_path),
                                  settings.subject, settings.vapid_lifetime_s, clock or SystemClock(),
                                  is_pem=pem is not None)
        self._limit = asyncio.Semaphore(settings.max_in_flight)
        self._session: aiohttp.ClientSession | None = None
        self._pool: ProcessPoolExecutor | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.settings.max_in_flight, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.settings.process_pool_workers,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        """Encrypt and send every request; one outcome per request, in order."""
        batch = _webpush_only(requests)
        threshold = self.settings.process_pool_threshold
        if threshold is None or len(batch) < threshold:
            return list(await asyncio.gather(*(self.send(r) for r in batch)))
        loop = asyncio.get_running_loop()
        pool = self._executor()
        chunks = [batch[i:i + POOL_CHUNK] for i in range(0, len(batch), POOL_CHUNK)]

        async def run_chunk(chunk: list[WebPushRequest]) -> list[Outcome]:
            bodies = await loop.run_in_executor(pool, encrypt_many, [(r.subscription, r.payload) for r in chunk])
            return list(await asyncio.gather(*(self._send_body(r, b) for r, b in zip(chunk, bodies, strict=True))))

        results = await asyncio.gather(*(run_chunk(c) for c in chunks))
        return [outcome for chunk_outcomes in results for outcome in chunk_outcomes]

    async def send(self, request: WebPushRequest) -> Outcome:
        """Encrypt (in this process) and send one request."""
        async with self._limit:
            try:
                body: bytes | str = encrypt(request.subscription, request.payload)
            except ValueError as exc:
                body = str(exc)
            return await self._post(request, body)

    async def _send_body(self, request: WebPushRequest, body: bytes | str) -> Outcome:
        async with self._limit:
            return await self._post(request, body)

    async def _post(self, request: WebPushRequest, body: bytes | str) -> Outcome:
        if isinstance(body, str):
            return TokenInvalid(f"the Web Push subscription cannot be used: {body}", code="BadSubscriptionKeys")
        try:
            endpoint = str(request.subscription["endpoint"])
            origin = origin_of(endpoint)
        except (KeyError, ValueError) as exc:
            return TokenInvalid(f"the Web Push subscription has no usable endpoint: {exc}", code="BadEndpoint")
        headers = {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(0, int(request.ttl))),
            "Urgency": request.urgency,
            "Authorization": self.vapid.authorization(origin),
        }
        if request.topic:
            headers["Topic"] = request.topic
        try:
            async with self._http().post(endpoint, data=body, headers=headers) as response:
                content = await response.read()
                return classify(response.status, response.headers, content)
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            return Transient(f"the push service could not be reached: {type(exc).__name__}",
                             code=type(exc).__name__)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Transient(f"the push service connection failed after the request was sent: {type(exc).__name__}",
                             code=type(exc).__name__, ambiguous=True)

    async def check_connection(self) -> ConnectionCheck:
        """VAPID self-check (see ``core.providers.webpush_check``); no network."""
        return check_vapid(self.vapid.vapid, self.settings)

    async def aclose(self) -> None:
        """Close the session and shut the encryption pool down."""
        session, self._session = self._session, None
        pool, self._pool = self._pool, None
        if session is not None:
            await session.close()
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)


def _webpush_only(requests: Sequence[PushRequest]) -> list[WebPushRequest]:
    for r in requests:
        if not isinstance(r, WebPushRequest):
            raise TypeError(f"the Web Push provider cannot send a {type(r).__name__}")
    return list(requests)  # type: ignore[arg-type]


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """The outcome of one push-service answer."""
    if status in (200, 201, 202):
        return SendResult(message_id=headers.get("Location") or headers.get("location"))
    text = f"the push service answered {status}: {_message(body)}"
    code = str(status)
    error: ProviderError
    if status in (404, 410):
        error = TokenInvalid(text, code=code, status=status)
    elif status in (401, 403):
        error = AuthFailed(text, code=code, status=status)
    elif status == 429:
        error = Throttled(text, code=code, status=status, retry_after=parse_retry_after(_header(headers)))
    elif status >= 500:
        error = Transient(text, code=code, status=status, retry_after=parse_retry_after(_header(headers)))
    else:
        error = PayloadRejected(text, code=code, status=status)
    return error


def _header(headers: Mapping[str, str]) -> str | None:
    return headers.get("Retry-After") or headers.get("retry-after")


def _message(body: bytes) -> str:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace")
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or data)[:200]
    return str(data)[:200]
