"""Rate control in plain Python: throttles that are never exceeded, and pauses that slow one scope only.

Three scopes limit a send, each with its own ``Throttle``:

* the **campaign** throttle (``settings.throttle_per_minute``; 0 means none),
* the **provider quota** (FCM: 600,000 messages a minute per project),
* **per device** limits (FCM: 240 a minute and 5,000 an hour per Android device).

A ``Throttle`` combines strict sliding windows (``SlidingWindow``: in any window of its length, never more
than its limit) with a ``TokenBucket`` that spreads the budget evenly (one second's worth at most in a
burst), so "600 a minute" means about 10 a second and never 601 in any 60 seconds. The lane asks how many
it may take *before* it claims rows, so nothing waits in a claimed state for a token.

A 429 pauses only its own scope (``ScopePauses``): the provider lane for a project quota, one device for
APNs TooManyRequests, one push service origin for Web Push. Time is the injected clock's ``monotonic()``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from core.clock import Clock

_EPSILON = 1e-9


class SlidingWindow:
    """At most ``limit`` takes in any window of ``seconds`` (an exact log of the takes in the window)."""

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError("a window needs a positive limit and length")
        self.limit = limit
        self.seconds = seconds
        self._log: deque[tuple[float, int]] = deque()
        self._used = 0

    def _prune(self, now: float) -> None:
        horizon = now - self.seconds
        while self._log and self._log[0][0] <= horizon + _EPSILON:
            self._used -= self._log.popleft()[1]

    def available(self, now: float) -> int:
        """How many may be taken at ``now``."""
        self._prune(now)
        return self.limit - self._used

    def take(self, n: int, now: float) -> None:
        """Record ``n`` takes at ``now`` (the caller checked ``available``)."""
        if n > 0:
            self._log.append((now, n))
            self._used += n

    def wait(self, now: float) -> float:
        """Seconds until at least one may be taken."""
        if self.available(now) > 0:
            return 0.0
        needed = self._used - self.limit + 1
        for at, n in self._log:
            needed -= n
            if needed <= 0:
                return max(0.0, at + self.seconds - now)
        return self.seconds  # pragma: no cover - unreachable while the log is consistent


class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``; starts full."""

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a bucket needs a positive rate and a capacity of at least 1")
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self, now: float) -> int:
        """Whole tokens at ``now``."""
        self._refill(now)
        return math.floor(self._tokens + _EPSILON)

    def take(self, n: int, now: float) -> None:
        """Spend ``n`` tokens."""
        self._refill(now)
        self._tokens -= n

    def wait(self, now: float) -> float:
        """Seconds until one whole token is there."""
        self._refill(now)
        missing = 1.0 - self._tokens
        return 0.0 if missing <= _EPSILON else missing / self.rate


@dataclass(frozen=True, slots=True)
class Limit:
    """``count`` messages per ``seconds``."""

    count: int
    seconds: float


class Throttle:
    """Several limits on one scope, plus a pause a 429 can impose; unlimited when given no limits."""

    def __init__(self, clock: Clock, limits: Sequence[Limit] = (), *, smooth: bool = True) -> None:
        self.clock = clock
        self.limits = tuple(limits)
        self._windows = [SlidingWindow(lim.count, lim.seconds) for lim in self.limits]
        self._bucket: TokenBucket | None = None
        if smooth and self.limits:
            rate = min(lim.count / lim.seconds for lim in self.limits)
            self._bucket = TokenBucket(rate, max(1.0, rate))
        self._paused_until = -math.inf

    @classmethod
    def per_minute(cls, clock: Clock, count: int | None) -> Throttle:
        """A throttle of ``count`` a minute; ``None`` or 0 means unlimited."""
        return cls(clock, [Limit(count, 60.0)] if count else [])

    @property
    def unlimited(self) -> bool:
        """True when nothing limits this scope."""
        return not self.limits

    def pause(self, seconds: float) -> None:
        """Take nothing for ``seconds`` (a 429 on this scope); a longer pause in force is kept."""
        self._paused_until = max(self._paused_until, self.clock.monotonic() + max(seconds, 0.0))

    def paused_for(self) -> float:
        """Seconds left of a pause, 0 when not paused."""
        return max(0.0, self._paused_until - self.clock.monotonic())

    def available(self, want: int) -> int:
        """How many of ``want`` may be taken now (not taken yet)."""
        now = self.clock.monotonic()
        if now < self._paused_until:
            return 0
        allowed = want
        for window in self._windows:
            allowed = min(allowed, window.available(now))
        if self._bucket is not None:
            allowed = min(allowed, self._bucket.available(now))
        return max(allowed, 0)

    def take(self, n: int) -> None:
        """Spend ``n`` (after ``available`` said so)."""
        if n <= 0:
            return
        now = self.clock.monotonic()
        for window in self._windows:
            window.take(n, now)
        if self._bucket is not None:
            self._bucket.take(n, now)

    def wait(self) -> float:
        """Seconds until at least one may be taken."""
        now = self.clock.monotonic()
        waits = [self._paused_until - now, *(w.wait(now) for w in self._windows)]
        if self._bucket is not None:
            waits.append(self._bucket.wait(now))
        return max(0.0, *waits)


class KeyedLimits:
    """The same limits for each of many keys (devices), created on first use and forgotten when idle."""

    def __init__(self, clock: Clock, limits: Sequence[Limit]) -> None:
        self.clock = clock
        self.limits = tuple(limits)
        self._windows: dict[object, list[SlidingWindow]] = {}
        self._longest = max((lim.seconds for lim in self.limits), default=0.0)
        self._last_sweep = clock.monotonic()

    def try_take(self, key: object) -> float:
        """Take one for ``key`` and answer 0.0, or answer the seconds to wait (nothing taken)."""
        if not self.limits:
            return 0.0
        now = self.clock.monotonic()
        self._sweep(now)
        windows = self._windows.get(key)
        if windows is None:
            windows = self._windows[key] = [SlidingWindow(lim.count, lim.seconds) for lim in self.limits]
        wait = max(w.wait(now) for w in windows)
        if wait > 0:
            return wait
        for w in windows:
            w.take(1, now)
        return 0.0

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < self._longest:
            return
        self._last_sweep = now
        self._windows = {k: ws for k, ws in self._windows.items() if any(w.available(now) < w.limit for w in ws)}


class ScopePauses:
    """Pauses of narrow scopes (one device, one push service origin) imposed by 429 answers."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}

    def pause(self, scope: str, seconds: float) -> None:
        """Send nothing to ``scope`` for ``seconds`` (a longer pause in force is kept)."""
        until = self.clock.monotonic() + max(seconds, 0.0)
        self._until[scope] = max(self._until.get(scope, -math.inf), until)

    def remaining(self, scope: str) -> float:
        """Seconds left of the pause on ``scope``, 0 when there is none."""
        until = self._until.get(scope)
        if until is None:
            return 0.0
        left = until - self.clock.monotonic()
        if left <= 0:
            del self._until[scope]
            return 0.0
        return left

    def __bool__(self) -> bool:
        return bool(self._until)


#: Per-device limits the providers publish (PROTOCOLS.md).
DEVICE_LIMITS: dict[str, tuple[Limit, ...]] = {
    "fcm": (Limit(240, 60.0), Limit(5000, 3600.0)),
}
#: Per-project quotas the providers publish (PROTOCOLS.md).
PROVIDER_QUOTAS: dict[str, tuple[Limit, ...]] = {
    "fcm": (Limit(600_000, 60.0),),
}
