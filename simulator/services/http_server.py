"""Runs one ASGI service with uvicorn (httptools) inside the caller's event loop, on a given or free port."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from simulator.services.asgi import AsgiApp


class UvicornService:
    """One uvicorn server bound to a socket we create, so the port is known before it serves."""

    def __init__(self, app: AsgiApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        # IPPROTO_TCP explicitly, so asyncio sets TCP_NODELAY on each connection: uvicorn writes headers and
        # body separately, and with Nagle on every kept-alive answer waited ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="off",
            http="httptools",
            ws="none",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            backlog=2048,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving; returns once the socket accepts connections."""
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped during start-up")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop accepting, close idle connections, wait for requests in flight (uvicorn's grace)."""
        if self._task is None:
            self._sock.close()
            return
        self._server.should_exit = True
        await self._task
        self._task = None
        self._sock.close()
