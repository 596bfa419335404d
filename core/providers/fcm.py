"""FCM HTTP v1 through firebase-admin's async path, on the engine's one long-lived event loop.

firebase-admin has no emulator switch: the send URL is the cached messaging service's private ``_fcm_url``
(built from ``_MessagingService.FCM_URL`` when the service is created), set here per App right after the
service is built, so several profiles (Apps, each uniquely named) can coexist. The SDK's async HTTP client
binds to the first loop that uses it, so the App is created lazily inside the running loop and the provider
must only ever be used from that loop (``aclose`` releases it).

The SDK's credential flow makes a new ``requests.Session`` per message; ``_SharedRequestAuth`` replaces it
with the same flow over one session (private: ``_async_client._async_client.auth``; left alone if it moves).

The SDK retries 500/503 up to 4 times on its own (ignoring Retry-After on the async path). Those retries are
counted by wrapping the SDK's inner transport (also private; ``tests/core/providers/test_firebase_private_api``
fails if it moves) and reported as ``SendResult.sdk_retries`` — failures carry them in ``sdk_retries`` too.

Answers::

    success                                      SendResult(message_id=name)
    UnregisteredError (404), NotFoundError       TokenInvalid
    InvalidArgumentError "…registration token…"  TokenInvalid (code INVALID_REGISTRATION)
    InvalidArgumentError (other)                 PayloadRejected
    SenderIdMismatchError (403)                  AuthFailed, code SENDER_ID_MISMATCH (quarantine the token)
    ThirdPartyAuthError (401), 401/403, refusal  AuthFailed
    QuotaExceededError (429)                     Throttled(retry_after from Retry-After)
    InternalError / UnavailableError             Transient(retry_after)
    no answer (reset, timeout)                   Transient(ambiguous=True); connect failure ambiguous=False
"""

from __future__ import annotations

import asyncio
import json
import uuid
import weakref
from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import firebase_admin
import httpx
from firebase_admin import _http_client, credentials, exceptions, messaging
from google.auth.transport import requests as google_auth_requests

from core.domain import Provider
from core.errors import (
    AuthFailed,
    ConfigurationError,
    CredentialError,
    PayloadRejected,
    ProviderError,
    Throttled,
    TokenInvalid,
    Transient,
)
from core.providers.answers import parse_retry_after
from core.providers.base import ConnectionCheck, FcmRequest, Outcome, PushRequest, SendResult
from core.providers.fcm_messages import to_message
from core.providers.settings import FcmSettings

#: firebase-admin's limit per ``send_each_async`` call.
MAX_BATCH = 500
#: Attempts firebase-admin makes per message on 500/503 (its retry config: 4 retries).
_SDK_ATTEMPTS = 5
#: Requests in flight over a plain-HTTP (HTTP/1.1) endpoint such as the simulator's.
HTTP1_IN_FLIGHT = 12
#: A syntactically valid registration token that no device holds, for the validate-only "test connection".
DUMMY_TOKEN = "herald-connection-check:APA91b" + "A" * 134


class _SharedRequestAuth(_http_client.GoogleAuthCredentialFlow):  # type: ignore[misc]
    """The SDK's credential flow with one google-auth ``Request`` for every request.

    The SDK's flow builds a ``google.auth.transport.requests.Request`` — a new ``requests.Session`` — for
    every message, only to have it at hand should the token need refreshing: most of the SDK's per-message
    CPU. The behaviour is the same: the access token is applied (refreshed when it expired), and a 401 forces
    a refresh and a retry, at most twice.
    """

    def __init__(self, credential: Any) -> None:
        super().__init__(credential)
        self._auth_request: google_auth_requests.Request | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._auth_request is None:
            self._auth_request = google_auth_requests.Request()
        original = request.headers.copy()
        attempt = 0
        while True:
            request.headers = original.copy()
            self._credential.before_request(self._auth_request, request.method, str(request.url), request.headers)
            response = yield request
            if response.status_code not in self._refresh_status_codes or attempt >= self._max_refresh_attempts:
                return
            self._credential.refresh(self._auth_request)
            attempt += 1


class _AttemptCounter(httpx.AsyncBaseTransport):
    """Wraps the SDK's inner transport; a request object dispatched again is an SDK retry of that message."""

    def __init__(self, inner: httpx.AsyncBaseTransport, retries: Counter[str]) -> None:
        self._inner = inner
        self._retries = retries
        self._seen: weakref.WeakSet[httpx.Request] = weakref.WeakSet()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request in self._seen:
            self._retries[_target_of(request)] += 1
        else:
            self._seen.add(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _target_of(request: httpx.Request) -> str:
    try:
        message = json.loads(request.content)["message"]
        return str(message.get("fid") or message.get("token") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


class FcmProvider:
    """Sends ``FcmRequest``s for one Firebase project with one service account."""

    provider = Provider.FCM

    def __init__(self, settings: FcmSettings, *, app_name: str | None = None) -> None:
        if (settings.service_account_path is None) == (settings.service_account_info is None):
            raise ConfigurationError("give exactly one of service_account_path and service_account_info")
        self.settings = settings
        self.app_name = app_name or f"herald-fcm-{uuid.uuid4().hex[:12]}"
        self._app: firebase_admin.App | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: SDK retries seen per target token, consumed by the batch that sent it.
        self._retries: Counter[str] = Counter()
        #: Whether SDK retries can be observed with this firebase-admin version.
        self.counts_sdk_retries = False

    def _ensure_app(self) -> firebase_admin.App:
        loop = asyncio.get_running_loop()
        if self._app is not None:
            if loop is not self._loop:
                raise RuntimeError("an FcmProvider is bound to the event loop it first sent on; use one long-lived "
                                   "loop (firebase-admin's async client cannot move between loops)")
            return self._app
        source: Any = self.settings.service_account_path or dict(self.settings.service_account_info or {})
        try:
            cert = credentials.Certificate(source)
        except (ValueError, OSError) as exc:
            raise CredentialError(f"the FCM service account is unusable: {exc}", "service_account") from None
        app = firebase_admin.initialize_app(
            cert, {"projectId": self.settings.project_id, "httpTimeout": self.settings.timeout_s}, name=self.app_name,
        )
        service = messaging._get_messaging_service(app)
        service._fcm_url = self.settings.send_url
        self.counts_sdk_retries = self._count_retries(service)
        client = getattr(getattr(service, "_async_client", None), "_async_client", None)
        flow = client.auth if isinstance(client, httpx.AsyncClient) else None
        if isinstance(client, httpx.AsyncClient) and isinstance(flow, _http_client.GoogleAuthCredentialFlow) \
                and not isinstance(flow, _SharedRequestAuth):
            client.auth = _SharedRequestAuth(flow._credential)
        self._app, self._loop = app, loop
        return app

    def _count_retries(self, service: Any) -> bool:
        """Swap the SDK's inner transport for a counted one with a pool sized to ``max_in_flight``.

        The SDK's own transport keeps the httpx defaults (100 connections, 20 kept alive), so a 500-message
        call over HTTP/1.1 queues requests in the pool and closes and reopens most connections.
        """
        mounts = getattr(getattr(service, "_async_client", None), "_mounts", None)
        if not isinstance(mounts, dict):
            return False
        found = False
        size = self._in_flight()
        for transport in mounts.values():
            inner = getattr(transport, "_wrapped_transport", None)
            if isinstance(inner, httpx.AsyncBaseTransport) and not isinstance(inner, _AttemptCounter):
                # The SDK's retries do not close the refused response first: room for them, kept-alive few.
                sized = httpx.AsyncHTTPTransport(http2=True, retries=0, limits=httpx.Limits(
                    max_connections=size * (_SDK_ATTEMPTS + 1), max_keepalive_connections=size,
                    keepalive_expiry=60.0))
                transport._wrapped_transport = _AttemptCounter(sized, self._retries)
                found = True
        return found

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        """Send in ``send_each_async`` slices, ``max_in_flight`` messages at once; one outcome per request, in order."""
        batch = _fcm_only(requests)
        in_flight = self._in_flight()
        size = max(1, min(self.settings.slice_size, MAX_BATCH, in_flight))
        slices = [batch[start:start + size] for start in range(0, len(batch), size)]
        limit = asyncio.Semaphore(max(1, in_flight // size))

        async def send_slice(chunk: list[FcmRequest]) -> list[Outcome]:
            async with limit:
                return await self._send_chunk(chunk, dry_run=False)

        results = await asyncio.gather(*(send_slice(chunk) for chunk in slices))
        return [outcome for chunk_outcomes in results for outcome in chunk_outcomes]

    def _in_flight(self) -> int:
        """Requests at once: ``max_in_flight`` over HTTP/2 (https), at most ``HTTP1_IN_FLIGHT`` over HTTP/1.1.

        Over HTTP/1.1 every request is a connection of httpcore's pool, which checks every connection on each
        assignment: past a dozen connections the client spends more CPU on the pool than on the messages.
        """
        if self.settings.base_url.startswith("https://"):
            return self.settings.max_in_flight
        return min(self.settings.max_in_flight, HTTP1_IN_FLIGHT)

    async def send(self, request: FcmRequest) -> Outcome:
        """Send one request."""
        [outcome] = await self._send_chunk([request], dry_run=False)
        return outcome

    async def _send_chunk(self, chunk: Sequence[FcmRequest], *, dry_run: bool) -> list[Outcome]:
        app = self._ensure_app()
        outcomes: list[Outcome | None] = [None] * len(chunk)
        messages: list[messaging.Message] = []
        positions: list[int] = []
        for i, request in enumerate(chunk):
            try:
                messages.append(to_message(request.token, request.message))
                positions.append(i)
            except (ValueError, TypeError) as exc:
                outcomes[i] = PayloadRejected(f"the FCM message is malformed: {exc}", code="INVALID_ARGUMENT")
        if messages:
            try:
                response = await messaging.send_each_async(messages, dry_run=dry_run, app=app)
                answers: list[Outcome] = [self._outcome(r) for r in response.responses]
            except Exception as exc:  # the SDK lets token-refresh failures escape the whole batch
                answers = [_batch_failure(exc)] * len(messages)
            for i, answer in zip(positions, answers, strict=True):
                outcomes[i] = self._with_retries(chunk[i].token, answer)
        return [o for o in outcomes if o is not None]

    def _outcome(self, response: messaging.SendResponse) -> Outcome:
        if response.success:
            return SendResult(message_id=response.message_id)
        return classify(response.exception)

    def _with_retries(self, token: str, outcome: Outcome) -> Outcome:
        retries = self._retries.pop(token, 0)
        if not retries:
            return outcome
        if isinstance(outcome, SendResult):
            return SendResult(outcome.message_id, sdk_retries=retries)
        outcome.sdk_retries = retries  # type: ignore[attr-defined]
        return outcome

    async def check_connection(self) -> ConnectionCheck:
        """A validate-only send to a dummy token; see ``check_fcm``."""
        probe = FcmRequest(DUMMY_TOKEN, {"data": {"herald_check": "1"}})
        [outcome] = await self._send_chunk([probe], dry_run=True)
        return check_fcm(outcome, self.settings)

    async def aclose(self) -> None:
        """Close the SDK's HTTP client and delete the App (only from the loop it is bound to)."""
        app, self._app, self._loop = self._app, None, None
        if app is None:
            return
        service = messaging._get_messaging_service(app)
        try:
            await service._async_client.aclose()
        finally:
            # delete_app closes the service with asyncio.run(), which cannot run inside this loop.
            await asyncio.to_thread(firebase_admin.delete_app, app)


def _fcm_only(requests: Sequence[PushRequest]) -> list[FcmRequest]:
    for r in requests:
        if not isinstance(r, FcmRequest):
            raise TypeError(f"the FCM provider cannot send a {type(r).__name__}")
    return list(requests)  # type: ignore[arg-type]


def _status(exc: exceptions.FirebaseError) -> int | None:
    response = exc.http_response
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(exc: exceptions.FirebaseError) -> float | None:
    response = exc.http_response
    headers: Mapping[str, str] | None = getattr(response, "headers", None)
    return parse_retry_after(headers.get("retry-after")) if headers is not None else None


def classify(exc: BaseException | None) -> ProviderError:
    """The Herald error for one firebase-admin exception."""
    if not isinstance(exc, exceptions.FirebaseError):
        return Transient(f"FCM send failed: {type(exc).__name__}", code=type(exc).__name__, ambiguous=True)
    status, text = _status(exc), f"FCM: {exc}"
    if isinstance(exc, messaging.UnregisteredError | exceptions.NotFoundError):
        return TokenInvalid(text, code="UNREGISTERED", status=status)
    if isinstance(exc, exceptions.InvalidArgumentError):
        if "registration token" in str(exc).lower():
            return TokenInvalid(text, code="INVALID_REGISTRATION", status=status)
        return PayloadRejected(text, code="INVALID_ARGUMENT", status=status)
    if isinstance(exc, messaging.SenderIdMismatchError):
        return AuthFailed(text, code="SENDER_ID_MISMATCH", status=status)
    if isinstance(exc, messaging.ThirdPartyAuthError):
        return AuthFailed(text, code="THIRD_PARTY_AUTH_ERROR", status=status)
    if isinstance(exc, exceptions.UnauthenticatedError | exceptions.PermissionDeniedError):
        return AuthFailed(text, code=str(exc.code), status=status)
    if isinstance(exc, messaging.QuotaExceededError | exceptions.ResourceExhaustedError):
        return Throttled(text, code="QUOTA_EXCEEDED", status=status, retry_after=_retry_after(exc))
    if exc.http_response is None:
        return _transport_failure(exc)
    if isinstance(exc, exceptions.InternalError | exceptions.UnavailableError) or (status or 0) >= 500:
        return Transient(text, code=str(exc.code), status=status, retry_after=_retry_after(exc))
    return PayloadRejected(text, code=str(exc.code), status=status)


def _transport_failure(exc: exceptions.FirebaseError) -> Transient:
    cause = exc.cause
    before_send = isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    name = type(cause).__name__ if cause is not None else type(exc).__name__
    where = "could not be reached" if before_send else "connection failed after the request was sent"
    return Transient(f"FCM {where}: {name}", code=name, ambiguous=not before_send)


def _batch_failure(exc: Exception) -> ProviderError:
    cause: BaseException | None = exc.cause if isinstance(exc, exceptions.FirebaseError) else exc
    chain = [cause, getattr(cause, "__cause__", None), getattr(cause, "__context__", None)]
    if any(type(c).__name__ == "RefreshError" for c in chain if c is not None):
        return AuthFailed("FCM: the service account could not obtain an access token (refused by the token "
                          "endpoint); check the service-account file", code="TOKEN_REFRESH_FAILED")
    return Transient(f"FCM batch failed: {type(exc).__name__}", code=type(exc).__name__, ambiguous=True)


def check_fcm(outcome: Outcome, settings: FcmSettings) -> ConnectionCheck:
    """Explain a validate-only send to a dummy token.

    The credentials work when FCM judged the *message*: a success, or an invalid/unregistered-token error
    (the dummy token belongs to no device). 401/403 or a token-endpoint refusal mean they do not.
    """
    facts = {"project_id": settings.project_id, "url": settings.base_url}
    if isinstance(outcome, SendResult):
        return ConnectionCheck(Provider.FCM, True, "FCM validated a message with these credentials", facts)
    facts["answer"] = outcome.code or ""
    if isinstance(outcome, TokenInvalid):
        return ConnectionCheck(Provider.FCM, True, "the credentials work: FCM authenticated the request and only "
                               "refused the dummy registration token, as expected", facts)
    if isinstance(outcome, AuthFailed):
        field = "project_id" if outcome.code == "SENDER_ID_MISMATCH" else "service_account"
        facts["field"] = field
        return ConnectionCheck(Provider.FCM, False, f"FCM refused the credentials ({outcome.code}); check the "
                               f"{field}", facts)
    return ConnectionCheck(Provider.FCM, False, f"FCM could not be checked: {outcome}", facts)

