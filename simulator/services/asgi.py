"""A lean ASGI layer shared by the HTTP/1.1 services (OAuth, FCM, Web Push).

Each service is a ``Handler``: an async function from a fully read ``Request`` to a ``Response``.
``service_app`` turns it into an ASGI application that always reads the whole body first, then applies the
service's faults (latency, reset, throttle, 5xx) and only then calls the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from simulator.services.faults import FaultDecision, FaultInjector, FaultKind

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Request:
    """One request, body included; header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: ``scheme://host:port`` as the client addressed the server.
    origin: str


@dataclass(frozen=True, slots=True)
class Response:
    """What a handler answers."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    content_type: str | None = "application/json; charset=UTF-8"


Handler = Callable[[Request], Awaitable[Response]]
FaultResponder = Callable[[FaultDecision], Response]


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A JSON response."""
    return Response(status, orjson.dumps(payload), headers)


def service_app(handler: Handler, faults: FaultInjector, fault_response: FaultResponder) -> AsgiApp:
    """The ASGI application of one service."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await _read_request(scope, receive)
        if request is None:
            return
        decision = faults.decide()
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.kind is FaultKind.RESET:
            await _reset(receive, send)
            return
        response = fault_response(decision) if decision.kind is not None else await handler(request)
        await _send(send, response)

    return app


async def _read_request(scope: Scope, receive: Receive) -> Request | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host") or "{}:{}".format(*scope["server"])
    return Request(
        method=scope["method"],
        path=scope["path"],
        headers=headers,
        body=b"".join(chunks),
        origin=f"{scope.get('scheme', 'http')}://{host}",
    )


async def _send(send: Send, response: Response) -> None:
    headers = [(b"content-length", str(len(response.body)).encode())]
    if response.content_type:
        headers.append((b"content-type", response.content_type.encode()))
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers)
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _reset(receive: Receive, send: Send) -> None:
    # ASGI has no "reset the connection" message; uvicorn's send is bound to a cycle that holds the
    # transport. Without it, a started but unfinished response makes uvicorn drop the connection.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await receive()
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
