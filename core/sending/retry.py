"""When to try a failed message again: exponential backoff with full jitter, Retry-After, an attempt cap.

A decision is a value (arq style): ``RetryPolicy.decide(error, attempts)`` answers ``Retry(defer, at)`` or
``GiveUp(state)``, and the outbox records exactly that. ``attempts`` is everything that has already been
spent on the message — every claim that handed it to a provider, plus retries the provider's client library
made on its own (``SendResult.sdk_retries``) — so an SDK that retried four times has used five attempts.

The wait after the n-th failed attempt is ``uniform(0, min(cap, base · 2^(n-1)))`` (AWS "full jitter"),
or the provider's Retry-After when that is longer. An ambiguous failure (``Transient(ambiguous=True)``: the
connection broke after the request went out) is retried like any transient one: the payload builders derive
the replace key (collapse key, collapse id, tag, Topic) and the apns-id from the campaign and the delivery,
never from the attempt, so a message that did arrive is replaced on the device instead of doubled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clock import Clock
from core.domain import DeliveryState
from core.errors import AuthFailed, PayloadRejected, ProviderError, Throttled, TokenInvalid, Transient


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after ``defer`` seconds, at ``at``."""

    defer: float
    at: datetime
    error_class: str
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: the message ends in ``state`` (``failed`` or ``token_invalid``) for ``reason``."""

    state: DeliveryState
    error_class: str
    reason: str


RetryDecision = Retry | GiveUp


class RetryPolicy:
    """Backoff with full jitter and an attempt cap; the RNG and the clock are injected for tests."""

    def __init__(
        self,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        base_seconds: float = 1.0,
        cap_seconds: float = 300.0,
        max_attempts: int = 6,
        max_retry_after_seconds: float = 3600.0,
    ) -> None:
        if base_seconds <= 0 or cap_seconds < base_seconds or max_attempts < 1:
            raise ValueError("need 0 < base ≤ cap and at least one attempt")
        self.clock = clock
        self.rng = rng or random.Random()
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.max_attempts = max_attempts
        self.max_retry_after_seconds = max_retry_after_seconds

    def window(self, attempts: int) -> float:
        """The upper bound of the jittered wait after ``attempts`` (≥ 1) failed attempts."""
        exponent = min(max(attempts - 1, 0), 62)
        return min(self.cap_seconds, self.base_seconds * 2.0**exponent)

    def backoff(self, attempts: int) -> float:
        """A random wait in ``[0, window(attempts)]``."""
        return self.rng.uniform(0.0, self.window(attempts))

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """The wait before the next attempt: the jittered backoff, or Retry-After when that is longer."""
        wait = self.backoff(attempts)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after_seconds))
        return wait

    def decide(self, error: ProviderError, attempts: int) -> RetryDecision:
        """What to do with a message whose latest attempt failed with ``error``, ``attempts`` spent so far."""
        cls = error.error_class
        if isinstance(error, TokenInvalid):
            return GiveUp(DeliveryState.TOKEN_INVALID, cls, str(error) or "token invalid")
        if isinstance(error, PayloadRejected):
            return GiveUp(DeliveryState.FAILED, cls, str(error) or "payload rejected")
        if isinstance(error, AuthFailed):
            # Not the message's fault: the lane stops and the message waits for working credentials.
            return self._retry(cls, 0.0, ambiguous=False)
        if attempts >= self.max_attempts:
            return GiveUp(DeliveryState.FAILED, cls, f"gave up after {attempts} attempts: {error}")
        retry_after = error.retry_after if isinstance(error, Throttled | Transient) else None
        ambiguous = isinstance(error, Transient) and error.ambiguous
        return self._retry(cls, self.delay(attempts, retry_after), ambiguous=ambiguous)

    def _retry(self, error_class: str, defer: float, *, ambiguous: bool) -> Retry:
        return Retry(defer, self.clock.now() + timedelta(seconds=defer), error_class, ambiguous)
