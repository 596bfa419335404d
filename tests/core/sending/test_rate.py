"""Throttles on a manual clock: never exceeded in any window, evenly spread, paused per scope."""

from __future__ import annotations

import random

import pytest

from core.clock import ManualClock
from core.sending.rate import KeyedLimits, Limit, ScopePauses, SlidingWindow, Throttle, TokenBucket


def max_in_any_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_campaign_throttle_is_never_exceeded_over_simulated_minutes(clock: ManualClock, seed: int) -> None:
    rng = random.Random(seed)
    throttle = Throttle.per_minute(clock, 600)
    taken: list[float] = []
    for _ in range(6000):  # ~5 simulated minutes of irregular asking
        clock.advance(rng.choice([0.0, 0.01, 0.05, 0.2, 1.0, 3.0]) * rng.random())
        n = throttle.available(rng.randint(1, 50))
        throttle.take(n)
        taken.extend([clock.monotonic()] * n)
    assert max_in_any_window(taken, 60.0) <= 600
    assert max_in_any_window(taken, 1.0) <= 10 + 10  # spread out: about 10 a second, never a minute's burst
    assert len(taken) >= 600 * 4  # and it does let the full rate through


def test_an_unlimited_throttle_grants_everything(clock: ManualClock) -> None:
    throttle = Throttle.per_minute(clock, 0)
    assert throttle.unlimited and throttle.available(10_000) == 10_000 and throttle.wait() == 0.0


def test_a_pause_stops_only_its_own_throttle(clock: ManualClock) -> None:
    fcm, apns = Throttle(clock), Throttle(clock)
    fcm.pause(30)
    assert fcm.available(5) == 0 and apns.available(5) == 5
    assert fcm.wait() == 30.0
    clock.advance(30)
    assert fcm.available(5) == 5


def test_sliding_window_and_bucket_waits(clock: ManualClock) -> None:
    window = SlidingWindow(3, 10.0)
    window.take(2, 0.0)
    window.take(1, 4.0)
    assert window.available(5.0) == 0 and window.wait(5.0) == 5.0
    assert window.available(10.0) == 2
    bucket = TokenBucket(2.0, 2.0)
    bucket.take(2, 0.0)
    assert bucket.available(0.0) == 0 and bucket.wait(0.0) == 0.5 and bucket.available(1.0) == 2


def test_per_device_limits_hold_per_device(clock: ManualClock) -> None:
    limits = KeyedLimits(clock, [Limit(240, 60.0), Limit(5000, 3600.0)])
    assert all(limits.try_take("a") == 0.0 for _ in range(240))
    assert limits.try_take("a") == 60.0
    assert limits.try_take("b") == 0.0
    clock.advance(60)
    assert limits.try_take("a") == 0.0


def test_scope_pauses_expire(clock: ManualClock) -> None:
    pauses = ScopePauses(clock)
    pauses.pause("device:1", 5)
    assert pauses.remaining("device:1") == 5 and pauses.remaining("device:2") == 0
    clock.advance(5)
    assert pauses.remaining("device:1") == 0 and not pauses
