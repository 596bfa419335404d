"""A small typed event bus: core publishes frozen dataclass events, observers subscribe by type.

The sender publishes from its asyncio loop; the console (through ``console/bridge.py``) and the command line
subscribe. ``publish`` is thread-safe and never waits for anything but the handlers themselves, which must
be quick and non-blocking (emit a queued Qt signal, append to a buffer). A handler that raises is logged and
skipped: an observer can never break the sender. ``EventBuffer`` is a ready-made non-blocking subscriber
for pull-style consumers (tests, a progress bar polling once a second)::

    bus = EventBus()
    sub = bus.subscribe(on_progress, ProviderProgress)    # only this type (and subclasses)
    bus.publish(ProviderProgress(...))
    sub.cancel()
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

_log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event Herald's core publishes (frozen dataclasses)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    handler: Handler
    types: tuple[type, ...]


class Subscription:
    """A handle on one subscription; ``cancel()`` removes it (idempotent)."""

    def __init__(self, bus: EventBus, entry: _Entry) -> None:
        self._bus = bus
        self._entry = entry

    def cancel(self) -> None:
        """Stop receiving events."""
        self._bus._remove(self._entry)


class EventBus:
    """Synchronous fan-out of events to subscribers; safe to publish and subscribe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: tuple[_Entry, ...] = ()

    def subscribe(self, handler: Callable[[E], None], *types: type[E]) -> Subscription:
        """Call ``handler`` for each published event of one of ``types`` (every event when none is given)."""
        entry = _Entry(handler, tuple(types))
        with self._lock:
            self._entries = (*self._entries, entry)
        return Subscription(self, entry)

    def unsubscribe(self, handler: Callable[[E], None]) -> None:
        """Remove every subscription of ``handler``."""
        with self._lock:
            self._entries = tuple(e for e in self._entries if e.handler != handler)

    def _remove(self, entry: _Entry) -> None:
        with self._lock:
            self._entries = tuple(e for e in self._entries if e is not entry)

    def publish(self, event: object) -> None:
        """Hand ``event`` to every matching subscriber, in subscription order; handler errors are logged."""
        for entry in self._entries:  # a snapshot: the tuple is replaced, never mutated
            if entry.types and not isinstance(event, entry.types):
                continue
            try:
                entry.handler(event)
            except Exception:
                _log.exception("event handler %r failed on %r", entry.handler, type(event).__name__)


class EventBuffer:
    """A non-blocking subscriber that keeps the newest ``maxlen`` events for a consumer to ``drain()``."""

    def __init__(self, bus: EventBus, *types: type, maxlen: int = 10_000) -> None:
        self._events: deque[object] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._subscription = bus.subscribe(self._append, *types)

    def _append(self, event: object) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list[object]:
        """Every buffered event, oldest first; the buffer is emptied."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
        return out

    def of_type(self, kind: type[E]) -> list[E]:
        """The buffered events of one type, oldest first (the buffer is left as is)."""
        with self._lock:
            return [e for e in self._events if isinstance(e, kind)]

    def close(self) -> None:
        """Stop buffering."""
        self._subscription.cancel()
