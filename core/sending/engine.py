"""The sending engine: campaigns in, per-provider lanes out, progress on the bus.

::

    engine = SendEngine(db, {Provider.FCM: fcm, Provider.APNS: apns}, SystemClock(), bus)
    await engine.resume_unfinished()              # on start-up: unfinished sends carry on by themselves
    await engine.start_campaign(7, fast=True)     # audience → outbox (one transaction) → lanes
    await engine.run_until_idle()                 # burst: drain what is due now and return (CLI, tests)
    # or, long-running (console, ``main.py serve``):  await engine.serve(stop_event)
    await engine.aclose()

Every method runs on the one asyncio loop that owns the providers' clients (``console/bridge.py``'s
EngineHost). Database calls are short batched statements made inline on that loop. The engine never
closes the providers it was given; their owner does.

A campaign goes ``draft → sending ⇄ paused → completed`` (or ``→ cancelled`` from any of them); it is
completed when none of its rows is pending (``queued``, ``claimed``, ``retry_wait``) any more.
"""

from __future__ import annotations

import asyncio
import random
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.campaigns.definition import Audience
from core.campaigns.service import CampaignService
from core.clock import Clock
from core.composer.content import PushContent
from core.domain import CampaignState, DeliveryKind, Provider
from core.errors import ValidationError
from core.events import EventBus
from core.persistence import Database
from core.persistence.bulk import DriverValues
from core.persistence.models import Campaign
from core.providers.base import ConnectionCheck, PushProvider
from core.sending.lane import ActiveCampaign, LaneSettings, ProviderLane
from core.sending.outbox import PENDING_STATES, DeliveryOutbox
from core.sending.progress import CampaignStateChanged, ProviderProgress, SendProblem
from core.sending.rate import DEVICE_LIMITS, PROVIDER_QUOTAS, KeyedLimits, Limit, Throttle
from core.sending.render import Personaliser, RequestRenderer, is_personalised
from core.sending.retry import RetryPolicy

_STARTABLE = (CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.SENDING, CampaignState.PAUSED)
_PENDING_SQL = ", ".join(f"'{s}'" for s in PENDING_STATES)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables of the engine; the defaults follow PROTOCOLS.md."""

    lane: LaneSettings = field(default_factory=LaneSettings)
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    max_attempts: int = 6
    #: Longest a live engine sleeps before looking for due rows again.
    poll_seconds: float = 0.5
    progress_seconds: float = 1.0
    #: In-flight batches get this long to finish on ``aclose`` before they are abandoned (rows keep leases).
    close_grace_seconds: float = 10.0
    provider_quotas: Mapping[str, tuple[Limit, ...]] = field(default_factory=lambda: dict(PROVIDER_QUOTAS))
    device_limits: Mapping[str, tuple[Limit, ...]] = field(default_factory=lambda: dict(DEVICE_LIMITS))


@dataclass(frozen=True, slots=True)
class StartResult:
    """What ``start_campaign`` did: how many devices were addressed and how many rows were new."""

    campaign_id: int
    audience: int
    enqueued: int
    fast: bool


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Totals of one ``run_until_idle``."""

    claimed: int = 0
    sent: int = 0
    failed: Mapping[str, int] = field(default_factory=dict)
    suppressed: int = 0
    retried: int = 0
    deferred: int = 0


class SendEngine:
    """Owns the lanes, the active campaigns and their throttles; see the module docstring for the flow."""

    def __init__(
        self,
        db: Database,
        providers: Mapping[Provider, PushProvider],
        clock: Clock,
        bus: EventBus,
        *,
        settings: EngineSettings | None = None,
        rng: random.Random | None = None,
        owner: str | None = None,
        personalise: Personaliser | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._bus = bus
        self.settings = settings or EngineSettings()
        self.owner = owner or f"herald-{uuid.uuid4().hex[:12]}"
        self.outbox = DeliveryOutbox(db)
        self._providers = dict(providers)
        self._personalise = personalise
        self.policy = RetryPolicy(clock, rng, base_seconds=self.settings.retry_base_seconds,
                                  cap_seconds=self.settings.retry_cap_seconds, max_attempts=self.settings.max_attempts)
        self._campaigns: dict[int, ActiveCampaign] = {}
        renderer = RequestRenderer(clock, personalise)
        self._renderer = renderer
        self.lanes: dict[Provider, ProviderLane] = {
            name: ProviderLane(
                provider, self.outbox, clock, bus, self.policy, self._active, owner=self.owner,
                settings=self.settings.lane,
                quota=Throttle(clock, self.settings.provider_quotas.get(name.value, ())),
                device_limits=KeyedLimits(clock, self.settings.device_limits.get(name.value, ())),
                renderer=renderer,
            )
            for name, provider in providers.items()
        }
        self._period_mono = clock.monotonic()
        self._period_start = clock.now()
        self._wake: asyncio.Event | None = None

    def _active(self) -> list[ActiveCampaign]:
        return list(self._campaigns.values())

    # -- campaigns ------------------------------------------------------------------------------------

    async def start_campaign(
        self,
        campaign_id: int,
        fast: bool = False,
        *,
        device_ids: Sequence[int] | None = None,
        variants: Mapping[int, int | None] | None = None,
    ) -> StartResult:
        """Write the audience to the outbox and the campaign to ``sending`` in one transaction; lanes start.

        ``device_ids`` defaults to the campaign's stored audience; ``variants`` (device → variant) to a
        deterministic split by the variants' shares. Re-running it is harmless: existing rows stay.
        """
        runtime, variant_shares = self._load(campaign_id, fast)
        # Every device with one variant and nothing to personalise: no id list needs to pass through Python.
        whole = (device_ids is None and variants is None and len(variant_shares) <= 1
                 and not any(control for _, _, control in variant_shares)
                 and not any(is_personalised(c) for c in runtime.contents.values())
                 and self._addresses_all_devices(campaign_id))
        if device_ids is None and not whole:
            device_ids = CampaignService(self._db, self._clock).audience_devices(campaign_id)
        if device_ids is not None:
            if variants is None:
                variants = _assign_variants(campaign_id, device_ids, variant_shares)
                device_ids = [d for d in device_ids if d in variants]
            self._renderer.check_audience(campaign_id, runtime.contents, device_ids, variants)
        now = self._clock.now()
        values = DriverValues(self._db.backend)
        with self._db.transaction() as s:
            if device_ids is None:
                only = variant_shares[0][0] if variant_shares else None
                enqueued, addressed = self.outbox.enqueue_all_devices(campaign_id, only, DeliveryKind.MESSAGE,
                                                                      now=now, session=s)
            else:
                addressed = len(device_ids)
                enqueued = self.outbox.enqueue(campaign_id, device_ids, variants, DeliveryKind.MESSAGE, now=now,
                                               session=s)
            cursor = s.connection().connection.cursor()
            try:
                cursor.execute(
                    _param(self._db, "UPDATE campaigns SET state = 'sending', started_at = COALESCE(started_at, ?), "
                           "updated_at = ? WHERE id = ?"),
                    (values.instant(now), values.instant(now), campaign_id),
                )
            finally:
                cursor.close()
        runtime.state = CampaignState.SENDING
        self._campaigns[campaign_id] = runtime
        self._publish_state(campaign_id, CampaignState.SENDING)
        self._poke()
        return StartResult(campaign_id, addressed, enqueued, fast)

    def _addresses_all_devices(self, campaign_id: int) -> bool:
        with self._db.transaction() as s:
            raw = s.scalar(select(Campaign.audience).where(Campaign.id == campaign_id))
        return isinstance(raw, Mapping) and Audience.from_dict(raw).all_devices

    def _load(self, campaign_id: int, fast: bool) -> tuple[ActiveCampaign, list[tuple[int, float, bool]]]:
        with self._db.transaction() as s:
            campaign = s.scalars(
                select(Campaign).options(selectinload(Campaign.variants)).where(Campaign.id == campaign_id)
            ).one_or_none()
            if campaign is None:
                raise ValidationError(f"there is no campaign {campaign_id} in this workspace", "campaign")
            state = CampaignState(campaign.state)
            if state not in _STARTABLE:
                raise ValidationError(f"campaign {campaign_id} is {state.value}; it cannot be sent", "campaign")
            contents: dict[int | None, PushContent] = {None: PushContent.from_dict(campaign.content)}
            shares: list[tuple[int, float, bool]] = []
            for v in campaign.variants:
                if v.content:
                    contents[v.id] = PushContent.from_dict({**campaign.content, **v.content})
                shares.append((v.id, v.share, v.is_control))
            throttle = Throttle.per_minute(self._clock, int(campaign.settings.get("throttle_per_minute") or 0))
        if self._personalise is None and any(is_personalised(c) for c in contents.values()):
            raise ValidationError("this campaign's content is personalised; configure a renderer to send it",
                                  "content")
        return ActiveCampaign(campaign_id, state, throttle, contents, fast=fast), shares

    async def pause(self, campaign_id: int) -> None:
        """Stop claiming the campaign's rows; what is in flight finishes. ``resume`` carries on."""
        if self._set_state(campaign_id, CampaignState.PAUSED, (CampaignState.SENDING,)):
            if campaign_id in self._campaigns:
                self._campaigns[campaign_id].state = CampaignState.PAUSED
            self._publish_state(campaign_id, CampaignState.PAUSED)

    async def resume(self, campaign_id: int) -> None:
        """Send a paused campaign again."""
        if self._set_state(campaign_id, CampaignState.SENDING, (CampaignState.PAUSED,)):
            if campaign_id in self._campaigns:
                self._campaigns[campaign_id].state = CampaignState.SENDING
            else:
                runtime, _ = self._load(campaign_id, False)
                runtime.state = CampaignState.SENDING
                self._campaigns[campaign_id] = runtime
            self._publish_state(campaign_id, CampaignState.SENDING)
            self._poke()

    async def cancel(self, campaign_id: int) -> int:
        """Cancel what has not left (answers in flight are still recorded); returns rows cancelled now."""
        allowed = (*_STARTABLE, CampaignState.CANCELLED)
        if not self._set_state(campaign_id, CampaignState.CANCELLED, allowed):
            raise ValidationError(f"campaign {campaign_id} cannot be cancelled now", "campaign")
        cancelled = self.outbox.cancel_pending(campaign_id, self._clock.now())
        runtime = self._campaigns.get(campaign_id)
        if runtime is not None:
            runtime.state = CampaignState.CANCELLED
        self._publish_state(campaign_id, CampaignState.CANCELLED)
        return cancelled

    async def resume_unfinished(self) -> list[int]:
        """On start-up: take up every campaign left sending or paused (and sweep cancelled ones)."""
        with self._db.transaction() as s:
            rows = s.execute(select(Campaign.id, Campaign.state).where(
                Campaign.state.in_([CampaignState.SENDING.value, CampaignState.PAUSED.value,
                                    CampaignState.CANCELLED.value])
            )).all()
        resumed = []
        for campaign_id, state in rows:
            if state == CampaignState.CANCELLED.value:
                self.outbox.cancel_pending(campaign_id, self._clock.now())
                continue
            if campaign_id in self._campaigns:
                continue
            runtime, _ = self._load(campaign_id, False)
            self._campaigns[campaign_id] = runtime
            if runtime.state is CampaignState.SENDING:
                resumed.append(campaign_id)
        self._poke()
        return resumed

    def resume_provider(self, provider: Provider) -> None:
        """Restart a lane stopped by refused credentials (after they were fixed)."""
        self.lanes[provider].resume()
        self._poke()

    def _set_state(self, campaign_id: int, state: CampaignState, allowed: Sequence[CampaignState]) -> bool:
        now = DriverValues(self._db.backend).instant(self._clock.now())
        states = ", ".join(f"'{s.value}'" for s in allowed)
        with self._db.transaction() as s:
            cursor = s.connection().connection.cursor()
            try:
                cursor.execute(
                    _param(self._db, f"UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ? "
                           f"AND state IN ({states})"),
                    (state.value, now, campaign_id),
                )
                return bool(cursor.rowcount)
            finally:
                cursor.close()

    # -- running --------------------------------------------------------------------------------------

    async def run_until_idle(self) -> RunSummary:
        """Burst mode: send everything claimable now, wait for every answer, settle, and return.

        Rows not due yet (backoff, throttles, paused scopes) stay for a later call; with a ManualClock a
        test advances the clock between calls.
        """
        events: list[ProviderProgress] = []
        while True:
            claimed = sum(lane.fill() for lane in self.lanes.values())
            tasks = set().union(*(lane.tasks for lane in self.lanes.values()))
            if tasks:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            elif not claimed:
                break
            events.extend(self._tick(force=False))
        self._settle()
        events.extend(self._tick(force=True))
        return _summarise(events)

    async def serve(self, stop: asyncio.Event) -> None:
        """Live mode: send as rows come due until ``stop`` is set; then finish in-flight work (with grace)."""
        self._wake = asyncio.Event()
        stopper = asyncio.ensure_future(stop.wait())
        last_settle = self._clock.monotonic()
        try:
            while not stop.is_set():
                holding = any(lane.holding_fast for lane in self.lanes.values())
                claimed = 0 if holding else sum(lane.fill() for lane in self.lanes.values())
                self._tick(force=False)
                tasks = set().union(*(lane.tasks for lane in self.lanes.values()))
                idle = not claimed and not tasks
                if idle or self._clock.monotonic() - last_settle >= self.settings.poll_seconds:
                    self._settle()
                    last_settle = self._clock.monotonic()
                if claimed:
                    await asyncio.sleep(0)
                    continue
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({*tasks, waker, stopper}, timeout=self._sleep_hint(),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waker.cancel()
                self._wake.clear()
        finally:
            stopper.cancel()
            await self.aclose()

    def _sleep_hint(self) -> float:
        hint = self.settings.poll_seconds
        for c in self._campaigns.values():
            if c.claimable and not c.throttle.unlimited:
                hint = min(hint, c.throttle.wait() or hint)
        for lane in self.lanes.values():
            hint = min(hint, lane.quota.paused_for() or hint)
        return max(hint, 0.001)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def aclose(self) -> None:
        """Let in-flight batches finish (``close_grace_seconds``), abandon the rest, publish last progress."""
        for lane in self.lanes.values():
            await lane.finish(self.settings.close_grace_seconds)
        self._tick(force=True)

    async def warm_up(self) -> list[ConnectionCheck]:
        """Open every provider's connection now (Fast Push: the first message then finds it warm)."""
        checks = await asyncio.gather(*(p.check_connection() for p in self._providers.values()),
                                      return_exceptions=True)
        out: list[ConnectionCheck] = []
        for name, check in zip(self._providers, checks, strict=True):
            if isinstance(check, BaseException):
                self._bus.publish(SendProblem(name, f"warm-up failed: {check!r}", self._clock.now()))
            else:
                out.append(check)
                if not check.ok:
                    self._bus.publish(SendProblem(name, f"warm-up: {check.detail}", self._clock.now()))
        return out

    # -- bookkeeping ----------------------------------------------------------------------------------

    def _settle(self) -> None:
        """Complete campaigns with nothing pending; sweep cancelled ones; forget what is finished."""
        now = self._clock.now()
        at = DriverValues(self._db.backend).instant(now)
        for campaign_id, runtime in list(self._campaigns.items()):
            if runtime.state is CampaignState.CANCELLED:
                self.outbox.cancel_pending(campaign_id, now)
                if not any(lane.busy for lane in self.lanes.values()) and not self._pending(campaign_id):
                    self._forget(campaign_id)
                continue
            if runtime.state is not CampaignState.SENDING:
                continue
            with self._db.transaction() as s:
                cursor = s.connection().connection.cursor()
                try:
                    cursor.execute(
                        _param(self._db, "UPDATE campaigns SET state = 'completed', completed_at = ?, updated_at = ? "
                               "WHERE id = ? AND state = 'sending' AND NOT EXISTS (SELECT 1 FROM deliveries "
                               f"WHERE campaign_id = ? AND state IN ({_PENDING_SQL}))"),
                        (at, at, campaign_id, campaign_id),
                    )
                    done = bool(cursor.rowcount)
                finally:
                    cursor.close()
            if done:
                self._forget(campaign_id)
                self._publish_state(campaign_id, CampaignState.COMPLETED)

    def _pending(self, campaign_id: int) -> int:
        counts = self.outbox.counts(campaign_id)
        return sum(counts.get(s, 0) for s in PENDING_STATES)

    def _forget(self, campaign_id: int) -> None:
        self._campaigns.pop(campaign_id, None)
        self._renderer.forget(campaign_id)

    def _publish_state(self, campaign_id: int, state: CampaignState) -> None:
        counts = self.outbox.counts(campaign_id)
        self._bus.publish(CampaignStateChanged(campaign_id, state, self._clock.now(), counts))

    def _tick(self, *, force: bool) -> list[ProviderProgress]:
        mono = self._clock.monotonic()
        if not force and mono - self._period_mono < self.settings.progress_seconds:
            return []
        end = self._clock.now()
        events = []
        for name, lane in self.lanes.items():
            if lane.counters.busy:
                event = lane.counters.snapshot(name, self._period_start, end, self.outbox.retrying(name))
                events.append(event)
                self._bus.publish(event)
        self._period_mono, self._period_start = mono, end
        return events


def _param(db: Database, sql: str) -> str:
    return sql.replace("?", "%s") if db.backend == "postgresql" else sql


def _assign_variants(
    campaign_id: int, device_ids: Sequence[int], shares: Sequence[tuple[int, float, bool]]
) -> dict[int, int | None]:
    """A deterministic split of devices over variants by share; devices drawn into a control get no row."""
    if not shares:
        return dict.fromkeys(device_ids)
    if len(shares) == 1 and not shares[0][2]:
        return dict.fromkeys(device_ids, shares[0][0])
    total = sum(max(share, 0.0) for _, share, _ in shares) or 1.0
    out: dict[int, int | None] = {}
    for device_id in device_ids:
        draw = zlib.crc32(f"{campaign_id}:{device_id}".encode()) / 2**32 * total
        for variant_id, share, control in shares:
            draw -= max(share, 0.0)
            if draw < 0:
                if not control:
                    out[device_id] = variant_id
                break
    return out


def _summarise(events: Sequence[ProviderProgress]) -> RunSummary:
    failed: Counter[str] = Counter()
    for e in events:
        failed.update(e.failed)
    return RunSummary(
        claimed=sum(e.claimed for e in events), sent=sum(e.sent for e in events), failed=dict(failed),
        suppressed=sum(e.suppressed for e in events), retried=sum(e.retried for e in events),
        deferred=sum(e.deferred for e in events),
    )
