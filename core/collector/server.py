"""Serving the ingest API with uvicorn: in the foreground (``herald serve``) or on a background thread.

The background form is what the console and the end-to-end tests use: it owns its own event loop in one
thread, is ready when ``start()`` returns, and leaves no thread behind after ``stop()``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn

from core.clock import Clock
from core.collector.app import IngestApp
from core.collector.ingest import IngestService
from core.collector.sdk_key import ensure_sdk_key
from core.persistence import Database


@dataclass(frozen=True)
class ServerAddress:
    """Where a running ingest server listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The base URL SDKs post to."""
        return f"http://{self.host}:{self.port}"


def build_ingest_app(db: Database, sdk_key: str | None = None, clock: Clock | None = None) -> IngestApp:
    """The ingest app for ``db``, with one writer thread on SQLite and four on PostgreSQL."""
    writers = 1 if db.backend == "sqlite" else 4
    return IngestApp(IngestService(db, clock), ensure_sdk_key(db, sdk_key), writers=writers)


def _config(app: IngestApp) -> uvicorn.Config:
    return uvicorn.Config(
        app.asgi, log_level="warning", access_log=False, lifespan="off", loop="asyncio", http="httptools",
        timeout_keep_alive=30,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one)."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on connections whose socket says it is TCP, and
    # uvicorn writes a response's headers and body separately, so with Nagle on, every answer on a kept-alive
    # connection waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


#: Work that runs next to the server in its loop until the event is set (e.g. the sending engine).
Companion = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def serve_forever(app: IngestApp, host: str, port: int, companion: Companion | None = None) -> None:
    """Serve until interrupted (Ctrl+C), then stop ``companion`` and finish the database work in hand."""
    sock = bind(host, port)
    server = uvicorn.Server(_config(app))

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(companion(stop)) if companion is not None else None
        try:
            await server.serve(sockets=[sock])
        finally:
            stop.set()
            if task is not None:
                await task

    try:
        asyncio.run(run())
    finally:
        sock.close()
        app.close()


class BackgroundIngestServer:
    """The ingest API on a background thread with its own loop; ``start()`` returns once it listens."""

    def __init__(self, app: IngestApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._sock = bind(host, port)
        self.address = ServerAddress(host, self._sock.getsockname()[1])
        self._server = uvicorn.Server(_config(app))
        self._thread = threading.Thread(target=self._run, name="herald-ingest-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self) -> ServerAddress:
        """Start serving; returns the address once the server accepts connections."""
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the ingest server stopped while starting")
            threading.Event().wait(0.01)
        return self.address

    def stop(self) -> None:
        """Stop accepting, finish requests in hand, and release the thread, socket and executor."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self._app.close()
