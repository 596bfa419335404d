"""A lean HTTP/2 server for the APNs service, written directly on the ``h2`` state machine.

One ``H2Server`` listens on one socket, over TLS (ALPN ``h2``) or cleartext with prior knowledge (h2c).
Each connection advertises 1,000 concurrent streams and large flow-control windows, reads every request
body before answering, and answers in the same event-loop turn unless a fault adds latency. Faults:
a TCP reset after the body was read, and a graceful GOAWAY after N streams on a connection: open streams
are answered, newer ones refused (REFUSED_STREAM, which clients retry on a new connection), and the socket
closes when the client closes it or ``GOAWAY_LINGER_S`` after the last answer. On ``stop`` every connection
gets the same GOAWAY.

h2's own ``close_connection`` moves its state machine to CLOSED, after which no open stream can be
answered; a graceful GOAWAY is therefore written as a raw frame next to h2's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Callable, Iterable
from typing import Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hyperframe.frame import GoAwayFrame

from simulator.services.apns import ApnsAnswer, ApnsService
from simulator.services.faults import FaultDecision, FaultKind
from simulator.services.hpack_cache import install_huffman_cache

MAX_CONCURRENT_STREAMS = 1000
#: After a GOAWAY and the last answer, how long the connection stays open so the client reads the GOAWAY
#: (and retries refused streams elsewhere) before the socket closes under it.
GOAWAY_LINGER_S = 1.0
#: Values that never repeat: indexing them would only churn both sides' HPACK tables.
_UNIQUE_HEADERS = frozenset({"apns-id", "apns-unique-id"})
_STREAM_WINDOW = 1 << 20
_CONNECTION_WINDOW = 1 << 24
_CONFIG = h2.config.H2Configuration(
    client_side=False,
    header_encoding=None,
    validate_inbound_headers=False,
    normalize_inbound_headers=False,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)


class _LiteralEncoder(hpack.Encoder):
    """Sends header values as plain literals: clients decode Huffman in pure Python, and our values are
    mostly random ids that Huffman barely shortens."""

    def encode(self, headers: Iterable[Any], huffman: bool = False) -> bytes:
        return super().encode(headers, huffman=False)


class _Stream:
    __slots__ = ("body", "headers")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.body: list[bytes] = []


class H2ServerConnection(asyncio.Protocol):
    """One client connection: h2 events in, APNs answers out."""

    def __init__(self, server: H2Server) -> None:
        self._server = server
        self._service = server.service
        self._conn = h2.connection.H2Connection(config=_CONFIG)
        self._conn.encoder = _LiteralEncoder()
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._in_progress: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[int, bytes] = {}
        self._handled = 0
        self._highest_stream = 0
        self._goaway_wanted = False
        self._goaway_sent = False
        self._linger: asyncio.TimerHandle | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            transport.close()
            return
        self._server.connections.add(self)
        self._server.connections_opened += 1
        self._conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
            },
        )
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self._linger is not None:
            self._linger.cancel()
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            events = self._conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            self._abort()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self._on_request(event)
            elif isinstance(event, h2.events.DataReceived):
                self._on_data(event)
            elif isinstance(event, h2.events.StreamEnded):
                self._on_stream_ended(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self._forget(event.stream_id)
            elif isinstance(event, h2.events.WindowUpdated):
                self._send_pending()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._flush()
                self._close()
                return
        self._flush()
        self._send_goaway_when_quiet()

    def goaway(self) -> None:
        """Answer what has arrived, then send GOAWAY, refuse newer streams and close."""
        self._goaway_wanted = True
        self._send_goaway_when_quiet()

    def _send_goaway_when_quiet(self) -> None:
        # h2-based clients (httpx) drop every frame that follows a GOAWAY, so the GOAWAY goes out only once
        # each stream it covers has been answered; streams opened later are refused and retried elsewhere.
        if not self._goaway_wanted or self._goaway_sent or self._transport is None:
            return
        if self._streams or self._in_progress or self._pending:
            return
        self._goaway_sent = True
        self._flush()
        frame = GoAwayFrame(0, last_stream_id=self._highest_stream, error_code=h2.errors.ErrorCodes.NO_ERROR)
        self._transport.write(frame.serialize())
        self._close_if_drained()

    def reset(self) -> None:
        """Cut the connection with a TCP reset."""
        self._abort()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        if self._goaway_sent and stream_id > self._highest_stream:
            self._conn.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        self._highest_stream = max(self._highest_stream, stream_id)
        self._streams[stream_id] = _Stream(list(event.headers or ()))
        if event.stream_ended is not None:
            self._on_stream_ended(stream_id)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if event.flow_controlled_length:
            self._conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        if stream is not None and event.data:
            stream.body.append(event.data)

    def _on_stream_ended(self, stream_id: int) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._handled += 1
        limit = self._service.faults.settings.goaway_after_streams
        decision = self._service.faults.decide()
        if decision.delay > 0 or decision.kind is FaultKind.RESET:
            self._in_progress.add(stream_id)
            task = asyncio.get_running_loop().create_task(self._answer_later(stream_id, stream, decision))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._answer(stream_id, self._service_answer(stream, decision))
        if limit is not None and self._handled >= limit:
            self._goaway_wanted = True

    async def _answer_later(self, stream_id: int, stream: _Stream, decision: FaultDecision) -> None:
        try:
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
            if self._transport is None or stream_id not in self._in_progress:
                return
            if decision.kind is FaultKind.RESET:
                self.reset()
                return
            self._answer(stream_id, self._service_answer(stream, decision))
            self._flush()
        finally:
            self._in_progress.discard(stream_id)
            self._send_goaway_when_quiet()
            self._close_if_drained()

    def _service_answer(self, stream: _Stream, decision: FaultDecision) -> ApnsAnswer:
        headers: dict[str, str] = {}
        method = path = ""
        for name, value in stream.headers:
            key = name.decode("latin-1")
            if key == ":method":
                method = value.decode("latin-1")
            elif key == ":path":
                path = value.decode("latin-1")
            elif not key.startswith(":"):
                headers[key] = value.decode("latin-1")
        if decision.kind is not None:
            return self._service.fault_answer(decision, headers)
        return self._service.handle(method, path, headers, b"".join(stream.body))

    def _answer(self, stream_id: int, answer: ApnsAnswer) -> None:
        headers: list[tuple[bytes, bytes]] = [(b":status", str(answer.status).encode())]
        for name, value in answer.headers:
            pair = (name.encode("latin-1"), value.encode("latin-1"))
            headers.append(hpack.NeverIndexedHeaderTuple(*pair) if name in _UNIQUE_HEADERS else pair)
        if answer.body:
            headers.append((b"content-length", str(len(answer.body)).encode()))
        try:
            self._conn.send_headers(stream_id, headers, end_stream=not answer.body)
            if answer.body:
                self._pending[stream_id] = answer.body
                self._send_pending()
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._pending.pop(stream_id, None)
        self._close_if_drained()

    def _send_pending(self) -> None:
        for stream_id in list(self._pending):
            body = self._pending[stream_id]
            try:
                window = min(self._conn.local_flow_control_window(stream_id), self._conn.max_outbound_frame_size)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                del self._pending[stream_id]
                continue
            if window <= 0:
                continue
            chunk, rest = body[:window], body[window:]
            self._conn.send_data(stream_id, chunk, end_stream=not rest)
            if rest:
                self._pending[stream_id] = rest
            else:
                del self._pending[stream_id]
        if not self._pending:
            self._send_goaway_when_quiet()

    def _forget(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        self._pending.pop(stream_id, None)
        self._in_progress.discard(stream_id)

    def _close_if_drained(self) -> None:
        if self._goaway_sent and not self._streams and not self._in_progress and not self._pending:
            self._flush()
            if self._linger is None and self._transport is not None:
                self._linger = asyncio.get_running_loop().call_later(GOAWAY_LINGER_S, self._close)

    def _flush(self) -> None:
        data = self._conn.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _abort(self) -> None:
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class H2Server:
    """An HTTP/2 listener for one ``ApnsService``, over TLS or h2c."""

    def __init__(self, service: ApnsService, *, ssl_context: ssl.SSLContext | None = None) -> None:
        install_huffman_cache()
        self.service = service
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self.connections: set[H2ServerConnection] = set()
        #: Connections accepted since start (a GOAWAY makes clients open new ones).
        self.connections_opened = 0

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind and start accepting connections."""
        loop = asyncio.get_running_loop()
        factory: Callable[[], H2ServerConnection] = lambda: H2ServerConnection(self)  # noqa: E731
        self._server = await loop.create_server(
            factory, host, port, ssl=self._ssl, backlog=1024, reuse_address=True
        )

    async def stop(self, grace_s: float = 2.0) -> None:
        """GOAWAY to every connection, wait for them to drain (at most ``grace_s``), then close."""
        if self._server is None:
            return
        self._server.close()
        connections = list(self.connections)
        for connection in connections:
            connection.goaway()
        if connections:
            _, stuck = await asyncio.wait([c.closed for c in connections], timeout=grace_s)
            for connection in connections:
                if not connection.closed.done():
                    connection.reset()
            if stuck:
                await asyncio.wait(stuck, timeout=1.0)
        await self._server.wait_closed()
        self._server = None


def tls_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """A server TLS context that offers only ``h2`` over ALPN, as APNs does."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    context.set_alpn_protocols(["h2"])
    return context
