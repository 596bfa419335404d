"""The event bus: typed subscriptions, unsubscribe, a failing handler never breaks the publisher."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import pytest

from core.events import Event, EventBuffer, EventBus


@dataclass(frozen=True, slots=True)
class Ping(Event):
    n: int


@dataclass(frozen=True, slots=True)
class Pong(Event):
    n: int


def test_subscribers_get_the_types_they_asked_for() -> None:
    bus = EventBus()
    pings: list[Ping] = []
    everything: list[object] = []
    sub = bus.subscribe(pings.append, Ping)
    bus.subscribe(everything.append)
    bus.publish(Ping(1))
    bus.publish(Pong(2))
    sub.cancel()
    bus.publish(Ping(3))
    assert pings == [Ping(1)] and everything == [Ping(1), Pong(2), Ping(3)]
    bus.unsubscribe(everything.append)
    bus.publish(Ping(4))
    assert len(everything) == 3


def test_a_failing_handler_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[object] = []

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    with caplog.at_level(logging.ERROR):
        bus.publish(Ping(1))
    assert got == [Ping(1)] and "boom" in caplog.text


def test_publishing_from_many_threads_loses_nothing() -> None:
    bus = EventBus()
    buffer = EventBuffer(bus, Ping)

    def publish(base: int) -> None:
        for i in range(500):
            bus.publish(Ping(base + i))

    threads = [threading.Thread(target=publish, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(buffer.of_type(Ping)) == 2000 and len(buffer.drain()) == 2000 and buffer.drain() == []
    buffer.close()
