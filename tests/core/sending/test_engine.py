"""The engine end to end with scripted providers, a manual clock and burst runs (no wall clock)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.clock import ManualClock
from core.domain import CampaignState, Provider
from core.errors import AuthFailed, Throttled, TokenInvalid, Transient, ValidationError
from core.events import EventBuffer, EventBus
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Device, User
from core.sending.engine import EngineSettings, SendEngine
from core.sending.lane import LaneSettings
from core.sending.progress import CampaignStateChanged, LaneStopped, ProviderProgress
from tests.core.sending.conftest import T0, ScriptedProvider, add_campaign, add_devices

pytestmark = pytest.mark.asyncio


def fakes(clock: ManualClock, *names: Provider) -> dict[Provider, ScriptedProvider]:
    return {n: ScriptedProvider(n, clock) for n in names or tuple(Provider)}


def engine(db: Database, providers: Mapping[Provider, ScriptedProvider], clock: ManualClock, bus: EventBus,
           **settings: object) -> SendEngine:
    lane = settings.pop("lane", LaneSettings(batch_size=50, max_in_flight_batches=2, lease_seconds=60))
    return SendEngine(db, providers, clock, bus, rng=random.Random(3),
                      settings=EngineSettings(lane=lane, **settings))  # type: ignore[arg-type]


def deliveries(db: Database, campaign_id: int) -> dict[int, Delivery]:
    with db.transaction() as s:
        return {d.device_id: d for d in s.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id))}


def campaign_state(db: Database, campaign_id: int) -> str:
    with db.transaction() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.state


async def test_a_campaign_reaches_every_device_once_and_completes(
    db: Database, clock: ManualClock, bus: EventBus
) -> None:
    devices = add_devices(db, 90, list(Provider))
    campaign = add_campaign(db)
    providers = fakes(clock)
    events = EventBuffer(bus)
    eng = engine(db, providers, clock, bus)
    started = await eng.start_campaign(campaign)
    assert (started.audience, started.enqueued) == (90, 90)
    summary = await eng.run_until_idle()
    assert summary.sent == 90 and summary.claimed == 90 and not summary.failed
    for p in providers.values():
        assert len(p.ids()) == len(set(p.ids())) == 30
    rows = deliveries(db, campaign)
    assert sorted(rows) == devices and {d.state for d in rows.values()} == {"sent"}
    assert all(d.attempts == 1 and d.provider_message_id and d.lease_owner is None for d in rows.values())
    assert campaign_state(db, campaign) == "completed"
    states = [e.state for e in events.of_type(CampaignStateChanged)]
    assert states == [CampaignState.SENDING, CampaignState.COMPLETED]
    progress = events.of_type(ProviderProgress)
    assert {e.provider for e in progress} == set(Provider)
    assert sum(e.sent for e in progress) == 90 and all(e.in_flight == 0 and e.retrying == 0 for e in progress)
    assert (await eng.run_until_idle()).claimed == 0
    await eng.aclose()


async def test_the_campaign_throttle_is_never_exceeded_over_simulated_minutes(
    db: Database, clock: ManualClock, bus: EventBus
) -> None:
    add_devices(db, 300, [Provider.FCM, Provider.APNS])
    campaign = add_campaign(db, settings={"throttle_per_minute": 120})
    providers = fakes(clock, Provider.FCM, Provider.APNS)
    eng = engine(db, providers, clock, bus)
    await eng.start_campaign(campaign)
    while campaign_state(db, campaign) != "completed":
        await eng.run_until_idle()
        clock.advance(0.25)
        assert clock.monotonic() < 400, "the campaign should finish in about 150 simulated seconds"
    times = sorted(s.at for p in providers.values() for s in p.received)
    assert len(times) == 300
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 60.0)
        assert in_window <= 120
    assert times[-1] >= 148.0  # 300 at 2 a second


async def test_an_opt_out_mid_campaign_is_respected(db: Database, clock: ManualClock, bus: EventBus) -> None:
    devices = add_devices(db, 20)
    campaign = add_campaign(db, settings={"throttle_per_minute": 60})
    fcm = ScriptedProvider(Provider.FCM, clock)
    eng = engine(db, {Provider.FCM: fcm}, clock, bus)
    await eng.start_campaign(campaign)
    for _ in range(5):
        await eng.run_until_idle()
        clock.advance(1)
    already = set(fcm.ids())
    assert 4 <= len(already) <= 6
    with db.transaction() as s:  # everyone not reached yet withdraws consent
        s.execute(update(User).where(User.id.in_(
            select(Device.user_id).join(Delivery, Delivery.device_id == Device.id).where(Delivery.state == "queued")
        )).values(marketing_consent=False))
    for _ in range(30):
        await eng.run_until_idle()
        clock.advance(1)
    assert set(fcm.ids()) == already
    rows = deliveries(db, campaign)
    assert Counter(d.state for d in rows.values()) == {"sent": len(already), "suppressed": 20 - len(already)}
    assert {d.error_class for d in rows.values() if d.state == "suppressed"} == {"no_consent"}
    assert campaign_state(db, campaign) == "completed" and len(devices) == 20


async def test_retry_after_then_backoff_on_the_manual_clock(db: Database, clock: ManualClock, bus: EventBus) -> None:
    add_devices(db, 3)
    campaign = add_campaign(db)
    fcm = ScriptedProvider(Provider.FCM, clock)
    eng = engine(db, {Provider.FCM: fcm}, clock, bus)
    await eng.start_campaign(campaign)
    rows = deliveries(db, campaign)
    target = min(d.id for d in rows.values())
    fcm.then(target, Throttled("QUOTA_EXCEEDED", status=429, retry_after=30.0), Transient("UNAVAILABLE", status=503))
    await eng.run_until_idle()
    row = next(d for d in deliveries(db, campaign).values() if d.id == target)
    assert (row.state, row.error_class, row.next_attempt_at, row.attempts) == (
        "retry_wait", "throttled", T0 + timedelta(seconds=30), 1)
    clock.advance(29.9)
    await eng.run_until_idle()
    assert fcm.ids().count(target) == 1
    clock.advance(0.1)
    await eng.run_until_idle()
    row = next(d for d in deliveries(db, campaign).values() if d.id == target)
    assert row.state == "retry_wait" and row.error_class == "transient" and row.attempts == 2
    assert row.next_attempt_at is not None and clock.now() <= row.next_attempt_at <= clock.now() + timedelta(seconds=2)
    clock.advance(2)
    await eng.run_until_idle()
    row = next(d for d in deliveries(db, campaign).values() if d.id == target)
    assert (row.state, row.attempts, fcm.ids().count(target)) == ("sent", 3, 3)
    assert campaign_state(db, campaign) == "completed"


async def test_a_429_slows_only_its_own_lane(db: Database, clock: ManualClock, bus: EventBus) -> None:
    add_devices(db, 6, [Provider.FCM, Provider.APNS])
    campaign = add_campaign(db)
    providers = fakes(clock, Provider.FCM, Provider.APNS)
    providers[Provider.FCM].answer = lambda r: Throttled("QUOTA_EXCEEDED", retry_after=60.0)
    eng = engine(db, providers, clock, bus, lane=LaneSettings(batch_size=1, max_in_flight_batches=1))
    await eng.start_campaign(campaign)
    await eng.run_until_idle()
    assert len(providers[Provider.APNS].ids()) == 3
    assert len(providers[Provider.FCM].ids()) == 1  # the project quota is paused for 60 s after one 429
    providers[Provider.FCM].answer = None
    clock.advance(59)
    await eng.run_until_idle()
    assert len(providers[Provider.FCM].ids()) == 1
    clock.advance(1)
    await eng.run_until_idle()
    assert len(providers[Provider.FCM].ids()) == 4
    assert {d.state for d in deliveries(db, campaign).values()} == {"sent"}


async def test_the_attempt_cap_fails_a_message(db: Database, clock: ManualClock, bus: EventBus) -> None:
    add_devices(db, 1)
    campaign = add_campaign(db)
    fcm = ScriptedProvider(Provider.FCM, clock, answer=lambda r: Transient("INTERNAL", status=500))
    eng = engine(db, {Provider.FCM: fcm}, clock, bus, max_attempts=3)
    await eng.start_campaign(campaign)
    for _ in range(10):
        await eng.run_until_idle()
        clock.advance(300)
    (row,) = deliveries(db, campaign).values()
    assert (row.state, row.attempts, row.error_class, len(fcm.ids())) == ("failed", 3, "transient", 3)
    assert campaign_state(db, campaign) == "completed"


async def test_an_invalid_token_marks_the_device_and_is_never_retried(
    db: Database, clock: ManualClock, bus: EventBus
) -> None:
    dead, revived = add_devices(db, 2, [Provider.APNS])
    campaign = add_campaign(db)
    apns = ScriptedProvider(Provider.APNS, clock)
    eng = engine(db, {Provider.APNS: apns}, clock, bus)
    await eng.start_campaign(campaign)
    rows = deliveries(db, campaign)
    apns.then(rows[dead].id, TokenInvalid("Unregistered", status=410, invalid_since=T0))
    # This device registered again after the provider's time: its token lives and the message is retried.
    apns.then(rows[revived].id, TokenInvalid("Unregistered", status=410, invalid_since=T0 - timedelta(hours=1)))
    await eng.run_until_idle()
    for _ in range(3):
        clock.advance(5)
        await eng.run_until_idle()
    rows = deliveries(db, campaign)
    assert (rows[dead].state, rows[revived].state) == ("token_invalid", "sent")
    assert apns.ids().count(rows[dead].id) == 1
    with db.transaction() as s:
        device = s.get(Device, dead)
        other = s.get(Device, revived)
        assert device is not None and other is not None
        assert (device.invalidated_at, device.invalid_reason, other.invalidated_at) == (T0, "Unregistered", None)
    second = add_campaign(db, name="again")
    await eng.start_campaign(second)
    await eng.run_until_idle()
    assert deliveries(db, second)[dead].state == "suppressed" and apns.ids().count(rows[dead].id) == 1


async def test_refused_credentials_stop_the_lane_until_resumed(db: Database, clock: ManualClock, bus: EventBus) -> None:
    add_devices(db, 4)
    campaign = add_campaign(db)
    fcm = ScriptedProvider(Provider.FCM, clock, answer=lambda r: AuthFailed("THIRD_PARTY_AUTH_ERROR", status=401))
    events = EventBuffer(bus, LaneStopped)
    eng = engine(db, {Provider.FCM: fcm}, clock, bus)
    await eng.start_campaign(campaign)
    await eng.run_until_idle()
    (stopped,) = events.of_type(LaneStopped)
    assert stopped.provider is Provider.FCM and stopped.error_class == "auth_failed"
    calls = fcm.calls
    clock.advance(600)
    await eng.run_until_idle()
    assert fcm.calls == calls
    assert {(d.state, d.attempts) for d in deliveries(db, campaign).values()} == {("retry_wait", 0)}
    fcm.answer = None
    eng.resume_provider(Provider.FCM)
    await eng.run_until_idle()
    assert {(d.state, d.attempts) for d in deliveries(db, campaign).values()} == {("sent", 1)}


async def test_pause_resume_and_cancel(db: Database, clock: ManualClock, bus: EventBus) -> None:
    add_devices(db, 30)
    campaign = add_campaign(db, settings={"throttle_per_minute": 60})
    fcm = ScriptedProvider(Provider.FCM, clock)
    events = EventBuffer(bus, CampaignStateChanged)
    eng = engine(db, {Provider.FCM: fcm}, clock, bus)
    await eng.start_campaign(campaign)
    await eng.run_until_idle()
    assert len(fcm.ids()) == 1
    await eng.pause(campaign)
    clock.advance(10)
    await eng.run_until_idle()
    assert len(fcm.ids()) == 1 and campaign_state(db, campaign) == "paused"
    await eng.resume(campaign)
    for _ in range(5):
        await eng.run_until_idle()
        clock.advance(1)
    sent = len(fcm.ids())
    assert 5 <= sent <= 7
    cancelled = await eng.cancel(campaign)
    assert cancelled == 30 - sent
    clock.advance(60)
    await eng.run_until_idle()
    assert len(fcm.ids()) == sent and campaign_state(db, campaign) == "cancelled"
    assert Counter(d.state for d in deliveries(db, campaign).values()) == {"sent": sent, "cancelled": 30 - sent}
    assert [e.state for e in events.of_type(CampaignStateChanged)] == [
        CampaignState.SENDING, CampaignState.PAUSED, CampaignState.SENDING, CampaignState.CANCELLED]
    with pytest.raises(ValidationError):
        await eng.start_campaign(campaign)


@pytest.mark.parametrize("seed", [11, 12])
async def test_after_a_crash_every_row_ends_in_exactly_one_final_state(
    db: Database, clock: ManualClock, bus: EventBus, seed: int
) -> None:
    add_devices(db, 60, [Provider.FCM, Provider.WEBPUSH])
    campaign = add_campaign(db)
    lane = LaneSettings(batch_size=7, max_in_flight_batches=2, lease_seconds=45)
    hung = fakes(clock, Provider.FCM, Provider.WEBPUSH)
    stuck = asyncio.Event()
    for p in hung.values():
        p.hang = stuck  # requests go out, answers never come back: the process dies mid-flight
    first = engine(db, hung, clock, bus, lane=lane, close_grace_seconds=0)
    await first.start_campaign(campaign)
    runner = asyncio.ensure_future(first.run_until_idle())
    for _ in range(random.Random(seed).randint(1, 5)):
        await asyncio.sleep(0)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await first.aclose()  # abandons the in-flight batches; nothing was recorded for them
    in_flight = {i for p in hung.values() for i in p.ids()}
    assert 0 < len(in_flight) <= 2 * 2 * 7
    assert {d.state for d in deliveries(db, campaign).values()} <= {"claimed", "queued"}

    fresh = fakes(clock, Provider.FCM, Provider.WEBPUSH)
    second = engine(db, fresh, clock, bus, lane=lane)
    assert await second.resume_unfinished() == [campaign]
    await second.run_until_idle()
    assert not {i for p in fresh.values() for i in p.ids()} & in_flight  # still leased to the dead worker
    clock.advance(45)
    await second.run_until_idle()
    rows = deliveries(db, campaign)
    assert len(rows) == 60 and {d.state for d in rows.values()} == {"sent"}
    resent = Counter(i for p in fresh.values() for i in p.ids())
    assert set(resent.values()) == {1} and len(resent) == 60
    assert all(d.attempts == (2 if d.id in in_flight else 1) for d in rows.values())
    assert campaign_state(db, campaign) == "completed"


async def test_a_device_report_beats_a_late_sender_answer(db: Database, clock: ManualClock, bus: EventBus) -> None:
    (device,) = add_devices(db, 1)
    campaign = add_campaign(db)

    def arrives_but_the_answer_is_lost(request: object) -> Transient:
        with db.transaction() as s:  # the device shows it and reports before the sender hears anything
            s.execute(update(Delivery).where(Delivery.device_id == device).values(state="displayed",
                                                                                  displayed_at=T0))
        return Transient("connection reset after the request was written", ambiguous=True)

    fcm = ScriptedProvider(Provider.FCM, clock, answer=arrives_but_the_answer_is_lost)
    eng = engine(db, {Provider.FCM: fcm}, clock, bus)
    await eng.start_campaign(campaign)
    await eng.run_until_idle()
    clock.advance(600)
    await eng.run_until_idle()
    row = deliveries(db, campaign)[device]
    assert row.state == "displayed" and len(fcm.ids()) == 1
    assert campaign_state(db, campaign) == "completed"


async def test_fast_push_goes_first_with_a_small_first_batch(db: Database, clock: ManualClock, bus: EventBus) -> None:
    add_devices(db, 100)
    slow = add_campaign(db, name="newsletter")
    urgent = add_campaign(db, name="breaking", content={"title": "Breaking", "body": "now"})
    fcm = ScriptedProvider(Provider.FCM, clock)
    eng = engine(db, {Provider.FCM: fcm}, clock, bus, lane=LaneSettings(batch_size=100, fast_first_batch=5))
    await eng.start_campaign(slow)
    await eng.start_campaign(urgent, fast=True)
    await eng.run_until_idle()
    first_five = fcm.received[:5]
    assert all(s.request.message["notification"]["title"] == "Breaking"  # type: ignore[union-attr]
               for s in first_five)
    assert len(fcm.ids()) == 200 and campaign_state(db, urgent) == campaign_state(db, slow) == "completed"


async def test_serve_sends_as_campaigns_start_and_stops_cleanly(
    db: Database, clock: ManualClock, bus: EventBus
) -> None:
    add_devices(db, 40, list(Provider))
    campaign = add_campaign(db)
    providers = fakes(clock)
    eng = engine(db, providers, clock, bus, poll_seconds=0.01)
    stop = asyncio.Event()
    bus.subscribe(lambda e: stop.set() if e.state is CampaignState.COMPLETED else None, CampaignStateChanged)
    server = asyncio.ensure_future(eng.serve(stop))
    await eng.start_campaign(campaign, fast=True)
    await asyncio.wait_for(server, timeout=30)
    assert sum(len(p.ids()) for p in providers.values()) == 40


async def test_unknown_or_personalised_campaigns_are_refused(db: Database, clock: ManualClock, bus: EventBus) -> None:
    eng = engine(db, fakes(clock, Provider.FCM), clock, bus)
    with pytest.raises(ValidationError, match="no campaign"):
        await eng.start_campaign(999)
    templated = add_campaign(db, content={"title": "Hi {{ first_name }}", "body": "b"})
    with pytest.raises(ValidationError, match="personalised"):
        await eng.start_campaign(templated)
