"""Retry decisions with a seeded RNG and a manual clock: full jitter, Retry-After, the cap, permanence."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.domain import DeliveryState
from core.errors import AuthFailed, PayloadRejected, ProviderError, Throttled, TokenInvalid, Transient
from core.sending.retry import GiveUp, Retry, RetryPolicy


def policy(clock: ManualClock, seed: int = 7, **kw: float) -> RetryPolicy:
    return RetryPolicy(clock, random.Random(seed), base_seconds=1.0, cap_seconds=60.0, max_attempts=8, **kw)  # type: ignore[arg-type]


def test_full_jitter_stays_within_the_exponential_window_and_uses_all_of_it(clock: ManualClock) -> None:
    p = policy(clock)
    for attempts, window in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)]:
        assert p.window(attempts) == window
        waits = [p.backoff(attempts) for _ in range(2000)]
        assert all(0.0 <= w <= window for w in waits)
        assert min(waits) < window * 0.05 and max(waits) > window * 0.95  # full jitter, not "equal" jitter


def test_a_decision_is_a_value_with_the_time_of_the_next_attempt(clock: ManualClock) -> None:
    p = policy(clock)
    expected = random.Random(7).uniform(0, 4.0)
    decision = p.decide(Transient("503", status=503), attempts=3)
    assert decision == Retry(expected, clock.now() + timedelta(seconds=expected), "transient", False)


def test_retry_after_wins_when_longer_and_backoff_when_longer(clock: ManualClock) -> None:
    p = policy(clock)
    long = p.decide(Throttled("429", retry_after=30.0), attempts=1)
    assert isinstance(long, Retry) and long.defer == 30.0 and long.error_class == "throttled"
    short = policy(clock).decide(Transient("503", retry_after=0.001), attempts=7)
    assert isinstance(short, Retry)
    assert short.defer == random.Random(7).uniform(0, 60.0) > 0.001  # the first draw of the seeded RNG


def test_the_attempt_cap_fails_the_message_and_sdk_retries_count(clock: ManualClock) -> None:
    p = policy(clock)
    assert isinstance(p.decide(Transient("503"), attempts=7), Retry)
    assert p.decide(Transient("503"), attempts=8) == GiveUp(
        DeliveryState.FAILED, "transient", "gave up after 8 attempts: 503")
    assert isinstance(p.decide(Throttled("429"), attempts=9), GiveUp)


@pytest.mark.parametrize(("error", "state"), [
    (TokenInvalid("Unregistered", status=410), DeliveryState.TOKEN_INVALID),
    (PayloadRejected("PayloadTooLarge", status=413), DeliveryState.FAILED),
])
def test_permanent_answers_are_never_retried(clock: ManualClock, error: ProviderError, state: DeliveryState) -> None:
    decision = policy(clock).decide(error, attempts=1)
    assert isinstance(decision, GiveUp) and decision.state is state


def test_ambiguous_failures_are_retried_and_flagged(clock: ManualClock) -> None:
    decision = policy(clock).decide(Transient("reset after send", ambiguous=True), attempts=1)
    assert isinstance(decision, Retry) and decision.ambiguous


def test_auth_failures_wait_for_credentials_without_spending_backoff(clock: ManualClock) -> None:
    decision = policy(clock).decide(AuthFailed("THIRD_PARTY_AUTH_ERROR"), attempts=50)
    assert decision == Retry(0.0, clock.now(), "auth_failed", False)


def test_an_unclassified_provider_error_is_treated_as_transient(clock: ManualClock) -> None:
    assert isinstance(policy(clock).decide(ProviderError("odd"), attempts=1), Retry)
