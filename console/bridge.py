"""The one road between the GUI thread and the engine: ``EngineHost`` for calls, ``EventBridge`` for events.

One long-lived asyncio loop runs in one worker thread and owns every database connection and network
client. The GUI hands it work with ``submit()``; the result (or the error) comes back on the GUI thread
through a queued Qt signal, so widgets are only ever touched there. ``SyncEngineHost`` has the same
interface and runs work at once, for tests that want no threads.

Core publishes typed events on its ``EventBus`` from the engine thread; ``EventBridge`` is the one adapter
that turns them into Qt signals, delivered on the GUI thread (queued when published from another thread,
direct when published on the GUI thread, as with ``SyncEngineHost``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot

from core.events import EventBus, Subscription
from core.sending.progress import CampaignStateChanged, LaneResumed, LaneStopped, ProviderProgress, SendProblem

T = TypeVar("T")
Work = Callable[[], T] | Callable[[], Awaitable[T]]
OnDone = Callable[[T], None]
OnError = Callable[[BaseException], None]


class Host(Protocol):
    """What views need from a host: ``submit`` (EngineHost and SyncEngineHost both qualify)."""

    def submit(self, work: Any, on_done: Any = None, on_error: Any = None) -> concurrent.futures.Future[Any]: ...


def readable(error: BaseException) -> str:
    """An error as one sentence for people (Herald's errors already are; others get their type named)."""
    from core.errors import HeraldError

    if isinstance(error, HeraldError):
        return str(error)
    text = str(error) or type(error).__name__
    return text if isinstance(error, OSError | ValueError) else f"{type(error).__name__}: {text}"


class EngineHost(QObject):
    """Runs engine work on its own asyncio loop thread and delivers outcomes on the GUI thread.

    Signals:
        done(object, object): internal; carries a finished job's callback and its outcome to the GUI thread.
        state_changed(str): ``"running"`` or ``"stopped"``.
    """

    done = Signal(object, object)
    state_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="herald-engine", daemon=True)
        self.done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._thread.start()
        self.state_changed.emit("running")

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The engine's event loop (for services that must bind to it)."""
        return self._loop

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        # asyncio.to_thread() workers (blocking starts and stops) must not outlive the host.
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    def submit(
        self, work: Work[T], on_done: OnDone[T] | None = None, on_error: OnError | None = None
    ) -> concurrent.futures.Future[T]:
        """Run ``work`` (a function or a coroutine function) on the engine loop.

        ``on_done`` / ``on_error`` are called later on the GUI thread; the returned future can cancel it.
        """

        if self._loop.is_closed() or not self._thread.is_alive():
            stopped: concurrent.futures.Future[T] = concurrent.futures.Future()
            stopped.cancel()
            return stopped

        async def job() -> T:
            result = work()
            if inspect.isawaitable(result):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]

        future = asyncio.run_coroutine_threadsafe(job(), self._loop)

        def finished(f: concurrent.futures.Future[T]) -> None:
            if f.cancelled():
                return
            error = f.exception()
            if error is not None:
                if on_error is not None:
                    self.done.emit(on_error, error)
            elif on_done is not None:
                self.done.emit(on_done, f.result())

        future.add_done_callback(finished)
        return future

    @Slot(object, object)
    def _deliver(self, callback: Callable[[Any], None], outcome: Any) -> None:
        callback(outcome)

    def shutdown(self) -> None:
        """Stop the loop after the work in hand and join the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self.state_changed.emit("stopped")


class SyncEngineHost(QObject):
    """Same interface as EngineHost, but runs work immediately on the calling thread (tests).

    Signals:
        state_changed(str): never emitted; there for interface parity.
    """

    state_changed = Signal(str)

    def submit(
        self, work: Work[T], on_done: OnDone[T] | None = None, on_error: OnError | None = None
    ) -> concurrent.futures.Future[T]:
        """Run ``work`` now and call back now."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            result = work()
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
        except Exception as exc:
            future.set_exception(exc)
            if on_error is not None:
                on_error(exc)
            return future
        future.set_result(result)  # type: ignore[arg-type]
        if on_done is not None:
            on_done(result)  # type: ignore[arg-type]
        return future

    def shutdown(self) -> None:
        """Nothing to stop."""


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


class EventBridge(QObject):
    """Core events from an ``EventBus`` as Qt signals on the GUI thread; ``close()`` unsubscribes.

    The bus calls ``_forward`` on the publishing thread; emitting a signal of this GUI-thread object from
    there queues the delivery, so connected slots always run on the GUI thread and never block the sender.

    Signals:
        progress(object): a ``ProviderProgress`` (once a second per busy provider lane).
        campaign_state(object): a ``CampaignStateChanged``.
        lane_stopped(object): a ``LaneStopped`` (credentials refused) or ``LaneResumed``.
        problem(object): a ``SendProblem`` for the operator.
    """

    progress = Signal(object)
    campaign_state = Signal(object)
    lane_stopped = Signal(object)
    problem = Signal(object)

    def __init__(self, bus: EventBus | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._subscription: Subscription | None = None
        if bus is not None:
            self.attach(bus)

    def attach(self, bus: EventBus) -> None:
        """Start forwarding ``bus``'s sending events (any earlier bus is detached)."""
        self.close()
        self._subscription = bus.subscribe(
            self._forward, ProviderProgress, CampaignStateChanged, LaneStopped, LaneResumed, SendProblem
        )

    def _forward(self, event: object) -> None:
        if isinstance(event, ProviderProgress):
            self.progress.emit(event)
        elif isinstance(event, CampaignStateChanged):
            self.campaign_state.emit(event)
        elif isinstance(event, LaneStopped | LaneResumed):
            self.lane_stopped.emit(event)
        elif isinstance(event, SendProblem):
            self.problem.emit(event)

    def close(self) -> None:
        """Stop forwarding."""
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
