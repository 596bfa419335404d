"""The SDK ingest API as an ASGI application (Starlette).

Endpoints, all JSON:

* ``GET /sdk/v1/health`` → ``{"status": "ok"}`` (no key needed).
* ``POST /sdk/v1/devices`` → ``{"device_id", "user_id", "created", "revived"}``.
* ``POST /sdk/v1/events`` with ``{"events": [...]}`` (≤ 1,000) → ``{"accepted", "duplicates", "rejected"}``.

Errors: 401 for a missing or wrong ``X-Herald-Key``; 400 / 422 ``{"error", "field"}`` for bad input;
413 for a body over the limit or a batch over 1,000 events. Database work runs on a dedicated executor
(one writer thread for SQLite) so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.collector.ingest import IngestService
from core.errors import PayloadTooLarge, ValidationError

DEFAULT_MAX_BODY = 4 * 1024 * 1024
KEY_HEADER = "x-herald-key"
T = TypeVar("T")


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class _BodyTooLarge(Exception):
    pass


class IngestApp:
    """Owns the ASGI app, the SDK key check and the executor the database work runs on."""

    def __init__(
        self, service: IngestService, sdk_key: str, *, writers: int = 1, max_body: int = DEFAULT_MAX_BODY
    ) -> None:
        self._service = service
        self._key = sdk_key.encode()
        self._max_body = max_body
        self._executor = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="herald-ingest-db")
        self.asgi = Starlette(
            routes=[
                Route("/sdk/v1/health", self._health, methods=["GET"]),
                Route("/sdk/v1/devices", self._guarded(self._devices), methods=["POST"]),
                Route("/sdk/v1/events", self._guarded(self._events), methods=["POST"]),
            ],
        )

    @property
    def sdk_key(self) -> str:
        """The key requests must carry."""
        return self._key.decode()

    def close(self) -> None:
        """Finish queued database work and stop the writer threads."""
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _guarded(self, handler: Callable[[Any], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            given = request.headers.get(KEY_HEADER, "").encode()
            try:
                raw = await self._read_body(request)
            except _BodyTooLarge:
                return json_response(
                    {"error": f"body is larger than {self._max_body} bytes; send smaller batches"}, 413
                )
            if not given or not hmac.compare_digest(given, self._key):
                return json_response({"error": "missing or wrong X-Herald-Key header"}, 401)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                return json_response({"error": f"the body is not valid JSON: {exc}"}, 400)
            try:
                return await handler(body)
            except PayloadTooLarge as exc:
                return json_response(exc.as_dict(), 413)
            except ValidationError as exc:
                return json_response(exc.as_dict(), 422)

        return endpoint

    async def _read_body(self, request: Request) -> bytes:
        """Read the whole body (always, before answering), keeping it only while within the limit."""
        declared = request.headers.get("content-length")
        chunks = []
        size = 0
        too_large = declared is not None and declared.isdigit() and int(declared) > self._max_body
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max_body:
                too_large = True
            elif not too_large:
                chunks.append(chunk)
        if too_large:
            raise _BodyTooLarge
        return b"".join(chunks)

    async def _health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def _devices(self, body: Any) -> Response:
        result = await self._run(self._service.register_device, body)
        return json_response(result.as_dict(), 201 if result.created else 200)

    async def _events(self, body: Any) -> Response:
        if not isinstance(body, dict) or "events" not in body:
            raise ValidationError('the body must be {"events": [...]}', "events")
        result = await self._run(self._service.ingest_events, body["events"])
        return json_response(result.as_dict())
