"""Guards against Qt binding bugs that crash the console, so a broken release cannot slip back in."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    ping = Signal()


def test_emit_returns_a_proper_reference() -> None:
    """PySide6 6.12.0's emit() returned True without a reference; after enough emits the process aborted."""
    emitter = _Emitter()
    before = sys.getrefcount(True)
    results = [emitter.ping.emit() for _ in range(200)]
    assert all(r is True for r in results)
    assert sys.getrefcount(True) - before >= 200
