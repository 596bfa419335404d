"""Wall time for the services: an injectable ``() -> epoch seconds`` so tests can age tokens and JWTs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

WallClock = Callable[[], float]
system_wall_clock: WallClock = time.time


def utc_from_epoch(epoch_s: float) -> datetime:
    """An epoch second as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch_s, UTC)
