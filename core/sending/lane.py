"""One lane per provider: claim under lease, render, send with bounded concurrency, classify, record.

``fill()`` claims as many rows as the throttles allow *now* (campaign throttle, provider quota; a Fast Push
campaign first, with a small first batch so its first message leaves at once), renders them
(``RequestRenderer``: once per variant when not personalised) and starts one task per batch, at most
``max_in_flight_batches`` at a time. Each task awaits ``provider.send_batch`` and records every answer:

=====================  ======================================================================
answer                 what happens to the row
=====================  ======================================================================
``SendResult``         ``sent`` (provider message id; the SDK's own retries count as attempts)
``TokenInvalid``       ``token_invalid``, the device is marked invalid (never deleted), never
                       retried — unless the device registered again after the provider's time
``PayloadRejected``    ``failed``
``AuthFailed``         the lane stops (``LaneStopped`` event); the row waits, attempt refunded
``Throttled``          ``retry_wait`` (Retry-After or backoff) and its scope pauses: the lane
                       (FCM project quota), the device (APNs), the push service origin (Web Push)
``Transient``          ``retry_wait`` with backoff, or ``failed`` at the attempt cap
=====================  ======================================================================

Cancellation-safe: cancelling a batch task abandons its rows in the ``claimed`` state; their lease runs
out and a claim (this process after a restart, or another worker) takes them again, so they are retried,
never lost; the replace key makes a duplicate collapse on the device.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from core.clock import Clock
from core.composer.content import PushContent
from core.domain import CampaignState, Provider
from core.errors import AuthFailed, ProviderError, Throttled, TokenInvalid, Transient, ValidationError
from core.events import EventBus
from core.providers.base import PushProvider, PushRequest, SendResult
from core.sending.outbox import (
    ClaimedDelivery,
    Deferred,
    DeliveryOutbox,
    DeliveryOutcome,
    Failed,
    RetryLater,
    Sent,
    TokenDead,
)
from core.sending.progress import LaneCounters, LaneResumed, LaneStopped, SendProblem
from core.sending.rate import KeyedLimits, ScopePauses, Throttle
from core.sending.render import RequestRenderer
from core.sending.retry import GiveUp, RetryPolicy

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaneSettings:
    """How much a lane holds and sends at once."""

    batch_size: int = 500
    max_in_flight_batches: int = 4
    lease_seconds: float = 120.0
    #: A Fast Push campaign's first claim is this small, so its first message leaves within milliseconds.
    fast_first_batch: int = 20


@dataclass(eq=False)
class ActiveCampaign:
    """A campaign the engine is sending: its state, throttle and content per variant (None: the default)."""

    id: int
    state: CampaignState
    throttle: Throttle
    contents: dict[int | None, PushContent]
    fast: bool = False
    first_claimed: bool = False
    touched: bool = field(default=False)

    @property
    def claimable(self) -> bool:
        """Whether lanes may claim its rows."""
        return self.state in (CampaignState.SENDING, CampaignState.RECALLING)

    def content_for(self, variant_id: int | None) -> PushContent:
        """The content of a variant (the campaign's own when the variant has none)."""
        return self.contents.get(variant_id) or self.contents[None]


class ProviderLane:
    """Sends one provider's rows of every active campaign."""

    def __init__(
        self,
        provider: PushProvider,
        outbox: DeliveryOutbox,
        clock: Clock,
        bus: EventBus,
        policy: RetryPolicy,
        campaigns: Callable[[], Sequence[ActiveCampaign]],
        *,
        owner: str,
        settings: LaneSettings,
        quota: Throttle,
        device_limits: KeyedLimits,
        renderer: RequestRenderer,
    ) -> None:
        self.provider = provider
        self.name: Provider = provider.provider
        self._outbox = outbox
        self._clock = clock
        self._bus = bus
        self._policy = policy
        self._campaigns = campaigns
        self.owner = owner
        self.settings = settings
        self.quota = quota
        self._device_limits = device_limits
        self._pauses = ScopePauses(clock)
        self._renderer = renderer
        self.counters = LaneCounters()
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopped: AuthFailed | None = None
        self._fast_dispatched = False
        #: A Fast Push campaign's first batch while it is in flight (see ``holding_fast``).
        self._fast_task: asyncio.Task[None] | None = None

    # -- control --------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Messages handed to the provider and not answered yet."""
        return self.counters.in_flight

    @property
    def busy(self) -> bool:
        """True while batches are in flight."""
        return bool(self._tasks)

    @property
    def holding_fast(self) -> bool:
        """True while a Fast Push first batch is in flight: a live engine claims nothing more until it is
        answered, so no claiming and rendering of large batches delays its requests on the loop."""
        return self._fast_task is not None and not self._fast_task.done()

    @property
    def tasks(self) -> frozenset[asyncio.Task[None]]:
        """The batches in flight."""
        return frozenset(self._tasks)

    def resume(self) -> None:
        """Send again after a stop (new credentials)."""
        if self.stopped is not None:
            self.stopped = None
            self._bus.publish(LaneResumed(self.name, self._clock.now()))

    def _stop(self, error: AuthFailed) -> None:
        if self.stopped is None:
            self.stopped = error
            self._bus.publish(LaneStopped(self.name, error.error_class, str(error), self._clock.now()))

    async def wait_any(self, timeout: float | None = None) -> None:
        """Wait until at least one in-flight batch finishes (or ``timeout`` seconds of loop time pass)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

    async def finish(self, grace: float | None) -> None:
        """Let in-flight batches finish within ``grace`` seconds (None: no limit), then abandon the rest."""
        if self._tasks and (grace is None or grace > 0):
            await asyncio.wait(self._tasks, timeout=grace)
        await self.abandon()

    async def abandon(self) -> None:
        """Cancel in-flight batches; their rows stay claimed and come back when the lease runs out."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- claiming -------------------------------------------------------------------------------------

    def fill(self) -> int:
        """Claim and start batches while throttles and the in-flight bound allow; returns rows claimed."""
        claimed = 0
        while self.stopped is None and len(self._tasks) < self.settings.max_in_flight_batches:
            room = self.quota.available(self.settings.batch_size)
            if room <= 0:
                break
            got = self._claim_one(room)
            if got is None:
                break
            claimed += got
            if self._fast_dispatched:
                # Give the loop back so that batch's task starts now, before more rows are claimed and
                # rendered: the first Fast Push message leaves within milliseconds of the command.
                self._fast_dispatched = False
                break
        return claimed

    def _claim_one(self, room: int) -> int | None:
        ordered = sorted((c for c in self._campaigns() if c.claimable), key=lambda c: (not c.fast, c.id))
        for campaign in ordered:
            want = campaign.throttle.available(room)
            if campaign.fast and not campaign.first_claimed:
                want = min(want, self.settings.fast_first_batch)
            if want <= 0:
                continue
            now = self._clock.now()
            result = self._outbox.claim_batch(
                self.name, want, self.owner, self.settings.lease_seconds, now, campaign_id=campaign.id
            )
            suppressed = sum(result.suppressed.values())
            if not result.deliveries and not suppressed:
                continue
            self._fast_dispatched = campaign.fast and not campaign.first_claimed
            campaign.first_claimed = True
            campaign.touched = True
            rows = result.deliveries
            self.quota.take(len(rows))
            campaign.throttle.take(len(rows))
            self.counters.claimed += len(rows) + suppressed
            self.counters.suppressed += suppressed
            if rows:
                self._dispatch(campaign, rows)
            return len(rows) + suppressed
        return None

    def _dispatch(self, campaign: ActiveCampaign, rows: list[ClaimedDelivery]) -> None:
        now = self._clock.now()
        ready: list[tuple[ClaimedDelivery, PushRequest]] = []
        settled: list[DeliveryOutcome] = []
        self._renderer.prepare(campaign.contents.values(), rows)
        for d in rows:
            wait = self._scope_wait(d)
            if wait > 0:
                settled.append(Deferred(d.id, now + timedelta(seconds=wait), "scope_paused"))
                continue
            wait = self._device_limits.try_take(d.device_id)
            if wait > 0:
                settled.append(Deferred(d.id, now + timedelta(seconds=wait), "device_rate"))
                continue
            try:
                ready.append((d, self._renderer.render(campaign.content_for(d.variant_id), d)))
            except ValidationError as exc:
                settled.append(Failed(d.id, "payload_rejected", str(exc)))
        if settled:
            self._record(settled)
        if ready:
            self.counters.in_flight += len(ready)
            task = asyncio.get_running_loop().create_task(self._send(ready), name=f"herald-send-{self.name}")
            self._tasks.add(task)
            if self._fast_dispatched:
                self._fast_task = task
            task.add_done_callback(self._tasks.discard)

    def _scope_wait(self, d: ClaimedDelivery) -> float:
        if not self._pauses:
            return 0.0
        scope = _narrow_scope(d)
        return self._pauses.remaining(scope) if scope else 0.0

    # -- sending and classifying ----------------------------------------------------------------------

    async def _send(self, batch: list[tuple[ClaimedDelivery, PushRequest]]) -> None:
        try:
            try:
                answers: Sequence[object] = await self.provider.send_batch([r for _, r in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"send_batch answered {len(answers)} outcomes for {len(batch)} requests")
            except Exception as exc:  # a crashed call may have sent some: ambiguous, retried with the same key
                _log.exception("%s send_batch failed", self.name)
                self._bus.publish(SendProblem(self.name, f"send_batch failed: {exc!r}", self._clock.now()))
                answers = [Transient(f"send_batch failed: {exc!r}", ambiguous=True)] * len(batch)
            outcomes = [self._classify(d, answer) for (d, _), answer in zip(batch, answers, strict=True)]
            try:
                self._record(outcomes)
            except Exception as exc:  # the rows stay claimed and come back after the lease
                _log.exception("%s: recording %d outcomes failed", self.name, len(outcomes))
                self._bus.publish(SendProblem(self.name, f"recording outcomes failed: {exc!r}", self._clock.now()))
        finally:
            self.counters.in_flight -= len(batch)

    def _classify(self, d: ClaimedDelivery, answer: object) -> DeliveryOutcome:
        now = self._clock.now()
        if isinstance(answer, SendResult):
            return Sent(d.id, answer.message_id, answer.sdk_retries)
        if not isinstance(answer, ProviderError):
            answer = Transient(f"unexpected answer {answer!r}", ambiguous=True)
        if isinstance(answer, AuthFailed):
            self._stop(answer)
            return Deferred(d.id, now, answer.error_class)
        sdk_retries = int(getattr(answer, "sdk_retries", 0) or 0)
        if isinstance(answer, TokenInvalid):
            since = answer.invalid_since
            if since is not None and d.last_registered_at is not None and d.last_registered_at > since:
                # Registered again after the provider's time: the token lives (APNs 410 semantics).
                retry = self._policy.decide(Transient(str(answer)), d.attempts + sdk_retries)
                if not isinstance(retry, GiveUp):
                    return RetryLater(d.id, retry.at, answer.error_class, "token re-registered after " +
                                      since.isoformat(), sdk_retries)
            reason = answer.code or str(answer)[:64] or answer.error_class
            return TokenDead(d.id, d.device_id, since, reason, str(answer) or None)
        if isinstance(answer, Throttled):
            self._pause_scope(d, answer)
        decision = self._policy.decide(answer, d.attempts + sdk_retries)
        if isinstance(decision, GiveUp):
            return Failed(d.id, decision.error_class, decision.reason, sdk_retries)
        detail = f"{'ambiguous: ' if decision.ambiguous else ''}{answer}"
        return RetryLater(d.id, decision.at, decision.error_class, detail, sdk_retries)

    def _pause_scope(self, d: ClaimedDelivery, error: Throttled) -> None:
        seconds = error.retry_after if error.retry_after and error.retry_after > 0 else self._policy.window(1)
        scope = _narrow_scope(d)
        if scope is None:
            self.quota.pause(seconds)
        else:
            self._pauses.pause(scope, seconds)

    def _record(self, outcomes: list[DeliveryOutcome]) -> None:
        self._outbox.record(outcomes, self.owner, self._clock.now())
        c = self.counters
        for o in outcomes:
            if isinstance(o, Sent):
                c.sent += 1
            elif isinstance(o, RetryLater):
                c.retried += 1
            elif isinstance(o, Deferred):
                c.deferred += 1
            elif isinstance(o, Failed):
                c.failed[o.error_class] += 1
            else:
                c.failed["token_invalid"] += 1


def _narrow_scope(d: ClaimedDelivery) -> str | None:
    """The scope a 429 on ``d`` throttles, when narrower than the whole lane."""
    if d.provider is Provider.APNS:
        return f"device:{d.device_id}"  # TooManyRequests: too many requests to the same device token
    if d.provider is Provider.WEBPUSH and d.subscription:
        endpoint = str(d.subscription.get("endpoint", ""))
        return f"origin:{urlsplit(endpoint).netloc}"
    return None
