"""The error matrix: every provider answer in PROTOCOLS.md, provoked at the simulator, through the real engine.

The engine runs in burst mode (``run_until_idle``) on a ``ManualClock``: retry timing is read from the
outbox and moved forward by the test, never waited for. The providers are the real FCM (firebase-admin),
APNs (HTTP/2) and Web Push clients, talking to the simulator on loopback; faults come from the simulator's
fault injection or from real conditions (an uninstalled app, a wrong key or topic). ``Counting`` wraps a
real provider only to count what the engine handed it.

Each test uses devices of its own (delivery ids restart with every workspace, and a device hides a
delivery id it has already shown).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from core.clock import ManualClock
from core.domain import Platform, Provider
from core.events import EventBuffer, EventBus
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Device, User, Variant
from core.providers.apns import ApnsProvider
from core.providers.base import (
    ApnsRequest,
    ConnectionCheck,
    FcmRequest,
    Outcome,
    PushProvider,
    PushRequest,
    WebPushRequest,
)
from core.providers.factory import ProviderSettings, build_providers, settings_from_simulator_profile
from core.sending.engine import EngineSettings, SendEngine
from core.sending.lane import LaneSettings
from core.sending.progress import LaneStopped
from simulator.fleet import Fleet
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread
from tests.e2e.send_world import Arrivals, register_fleet, tray_entries

pytestmark = pytest.mark.asyncio

PER_PROVIDER = 40
PROVIDERS = [Provider.FCM, Provider.APNS, Provider.WEBPUSH]
SERVICE = {Provider.FCM: "fcm", Provider.APNS: "apns", Provider.WEBPUSH: "webpush"}


@dataclass
class Sim:
    """The simulator shared by this module's tests, and devices not used by any test yet."""

    thread: RuntimeThread
    info: RuntimeInfo
    fleet: Fleet
    arrivals: Arrivals
    unused: dict[Provider, list[int]]

    def take(self, provider: Provider, n: int) -> list[int]:
        """``n`` fresh simulator devices of ``provider``."""
        pool = self.unused[provider]
        assert len(pool) >= n, "raise PER_PROVIDER"
        taken, self.unused[provider] = pool[:n], pool[n:]
        return taken

    def settings(self) -> ProviderSettings:
        """Provider settings from the simulator's exported profile (as ``herald send`` loads them)."""
        return settings_from_simulator_profile(json.loads(self.info.profile.to_json()))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    thread = RuntimeThread(tmp_path_factory.mktemp("errors") / "sim", RuntimeOptions(
        devices=3 * PER_PROVIDER, seed=11, mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1}))
    info = thread.start()
    try:
        fleet = thread.runtime.fleet
        assert fleet is not None
        fleet.behaviour = None
        unused: dict[Provider, list[int]] = {p: [] for p in Provider}
        for device in fleet.devices():
            unused[device.provider].append(device.id)
        yield Sim(thread, info, fleet, Arrivals(fleet), unused)
    finally:
        thread.stop()


@pytest.fixture(autouse=True)
def no_faults(sim: Sim) -> Iterator[None]:
    yield
    services = sim.thread.runtime.services
    assert services is not None
    for injector in services.faults.values():
        injector.clear()
        injector.update(tokens_valid_after=0.0)


def faults(sim: Sim, provider: Provider, **changes: object) -> None:
    services = sim.thread.runtime.services
    assert services is not None
    services.faults[SERVICE[provider]].update(**changes)


class Counting:
    """A real provider, counting the requests the engine handed it."""

    def __init__(self, inner: PushProvider) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.requests = 0

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        self.requests += len(requests)
        return await self.inner.send_batch(requests)

    async def check_connection(self) -> ConnectionCheck:
        return await self.inner.check_connection()

    async def aclose(self) -> None:
        await self.inner.aclose()


class Corrupting(Counting):
    """Spoils each request below the composer (which never lets a bad payload out) so the provider refuses it."""

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        spoilt: list[PushRequest] = []
        for r in requests:
            if isinstance(r, ApnsRequest):
                spoilt.append(replace(r, payload=b'{"herald": {}}'))  # no "aps": 400 PayloadEmpty
            elif isinstance(r, FcmRequest):
                spoilt.append(replace(r, message={**r.message, "data": {**r.message.get("data", {}),
                                                                         "pad": "x" * 5000}}))
            else:
                assert isinstance(r, WebPushRequest)
                spoilt.append(replace(r, payload=b"x" * 4100))  # over 4,096 bytes once encrypted: 413
        return await super().send_batch(spoilt)


@dataclass
class Run:
    """One workspace sending to some simulator devices through one provider, on a manual clock."""

    db: Database
    sim: Sim
    clock: ManualClock
    bus: EventBus
    engine: SendEngine
    provider: Counting
    campaign: int
    #: Herald device id → simulator device id.
    devices: dict[int, int]

    async def step(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)
        await self.engine.run_until_idle()

    def rows(self) -> dict[int, Delivery]:
        with self.db.transaction() as s:
            found = s.scalars(select(Delivery).where(Delivery.campaign_id == self.campaign))
            return {d.device_id: d for d in found}

    def herald_id(self, sim_id: int) -> int:
        return next(h for h, s in self.devices.items() if s == sim_id)

    def tray(self, herald_id: int) -> list[str | None]:
        return tray_entries(self.sim.fleet, self.devices[herald_id], self.campaign)


def register(db: Database, sim: Sim, sim_ids: list[int]) -> dict[int, int]:
    """Register simulator devices (a day ago) in the workspace; Herald id → simulator id."""
    return register_fleet(db, [sim.fleet.device(i) for i in sim_ids], sim.info.profile.webpush_base_url,
                          at=datetime.now(UTC) - timedelta(days=1))


def new_campaign(db: Database, clock: ManualClock, settings: dict[str, object] | None = None) -> int:
    """A draft campaign to every device of the workspace."""
    content = {"title": "Spring sale", "body": "20% off this weekend"}
    with db.transaction() as s:
        campaign = Campaign(name="matrix", state="draft", content=content, audience={"all_devices": True},
                            settings=settings or {}, created_at=clock.now(), updated_at=clock.now())
        s.add(campaign)
        s.flush()
        s.add(Variant(campaign_id=campaign.id, name="A", content=content, share=1.0))
        return campaign.id


async def start(db: Database, sim: Sim, provider: Provider, sim_ids: list[int], *, wrap: type[Counting] = Counting,
                settings: ProviderSettings | None = None) -> Run:
    """Register the devices, create a campaign to them and start it (nothing is sent yet)."""
    devices = register(db, sim, sim_ids)
    clock = ManualClock(datetime.now(UTC))
    campaign_id = new_campaign(db, clock)
    every = build_providers(settings or sim.settings())
    chosen = wrap(every.pop(provider))
    for other in every.values():
        await other.aclose()
    bus = EventBus()
    engine = SendEngine(db, {provider: chosen}, clock, bus, rng=random.Random(5), settings=EngineSettings(
        lane=LaneSettings(batch_size=10, max_in_flight_batches=2, lease_seconds=600)))
    await engine.start_campaign(campaign_id)
    return Run(db, sim, clock, bus, engine, chosen, campaign_id, devices)


async def finish(run: Run) -> None:
    await run.engine.aclose()
    await run.provider.aclose()


# -- token invalid ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
async def test_an_uninstalled_app_invalidates_its_device_and_is_never_retried(
    sqlite_db: Database, sim: Sim, provider: Provider
) -> None:
    gone, alive = sim.take(provider, 2)
    sim.fleet.uninstall(gone)
    uninstalled_at = sim.fleet.device(gone).uninstalled_at
    assert uninstalled_at is not None
    run = await start(sqlite_db, sim, provider, [gone, alive])
    try:
        await run.step()
        rejected = sim.fleet.rejections["unregistered"]
        for _ in range(3):
            await run.step(600)
        rows = run.rows()
        dead, ok = rows[run.herald_id(gone)], rows[run.herald_id(alive)]
        assert (dead.state, dead.error_class, dead.attempts) == ("token_invalid", "token_invalid", 1)
        assert ok.state == "sent" and run.tray(run.herald_id(alive)) == [f"herald-{run.campaign}"]
        assert sim.fleet.rejections["unregistered"] == rejected and run.provider.requests == 2  # never retried
        with sqlite_db.transaction() as s:
            device = s.get(Device, run.herald_id(gone))
            assert device is not None and device.invalidated_at is not None and device.invalid_reason
            invalidated_at = device.invalidated_at.replace(tzinfo=UTC)
        if provider is Provider.APNS:  # the 410's timestamp (ms), not the time the answer came
            assert abs(invalidated_at - uninstalled_at) < timedelta(milliseconds=1)
            assert device.invalid_reason == "Unregistered"
    finally:
        await finish(run)


async def test_an_apns_410_older_than_the_latest_registration_keeps_the_device(sqlite_db: Database, sim: Sim) -> None:
    (sim_id,) = sim.take(Provider.APNS, 1)
    sim.fleet.uninstall(sim_id)
    run = await start(sqlite_db, sim, Provider.APNS, [sim_id])
    try:
        herald_id = run.herald_id(sim_id)
        with sqlite_db.transaction() as s:  # Herald heard from the device after Apple's timestamp
            s.execute(update(Device).where(Device.id == herald_id).values(
                last_registered_at=datetime.now(UTC) + timedelta(minutes=1)))
        await run.step()
        row = run.rows()[herald_id]
        assert row.state == "retry_wait" and row.error_class == "token_invalid"
        with sqlite_db.transaction() as s:
            device = s.get(Device, herald_id)
            assert device is not None and device.invalidated_at is None
    finally:
        await finish(run)


# -- payload rejected ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
async def test_a_payload_the_provider_refuses_fails_and_is_not_retried(
    sqlite_db: Database, sim: Sim, provider: Provider
) -> None:
    run = await start(sqlite_db, sim, provider, sim.take(provider, 2), wrap=Corrupting)
    try:
        await run.step()
        await run.step(3600)
        rows = run.rows().values()
        assert {(d.state, d.error_class, d.attempts) for d in rows} == {("failed", "payload_rejected", 1)}
        assert run.provider.requests == 2
        with sqlite_db.transaction() as s:
            assert s.get(Campaign, run.campaign).state == "completed"  # type: ignore[union-attr]
    finally:
        await finish(run)


# -- refused credentials ---------------------------------------------------------------------------------


def wrong_apns_key(sim: Sim, tmp: Path) -> ProviderSettings:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp / "other.p8"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    base = sim.settings()
    assert base.apns is not None
    return replace(base, apns=replace(base.apns, key_path=str(path)))


def wrong_apns_topic(sim: Sim) -> ProviderSettings:
    base = sim.settings()
    assert base.apns is not None
    return replace(base, apns=replace(base.apns, topic="com.example.someone-else"))


@pytest.mark.parametrize("case", ["fcm-third-party-auth", "apns-wrong-key", "apns-wrong-topic", "apns-expired-jwt",
                                  "webpush-vapid-refused"])
async def test_refused_credentials_stop_the_lane_and_nothing_more_is_sent(
    sqlite_db: Database, sim: Sim, case: str, tmp_path: Path
) -> None:
    provider = {"fcm": Provider.FCM, "apns": Provider.APNS, "webpush": Provider.WEBPUSH}[case.split("-")[0]]
    settings = None
    if case == "apns-wrong-key":
        settings = wrong_apns_key(sim, tmp_path)
    elif case == "apns-wrong-topic":
        settings = wrong_apns_topic(sim)
    elif case == "apns-expired-jwt":
        faults(sim, provider, tokens_valid_after=datetime.now(UTC).timestamp() + 3600)
    else:
        faults(sim, provider, rate_auth_error=1.0)
    run = await start(sqlite_db, sim, provider, sim.take(provider, 3), settings=settings)
    stops = EventBuffer(run.bus, LaneStopped)
    try:
        await run.step()
        (stopped,) = stops.of_type(LaneStopped)
        assert stopped.provider is provider and stopped.error_class == "auth_failed"
        sent_so_far = run.provider.requests
        assert 1 <= sent_so_far <= 3
        for _ in range(3):
            await run.step(600)
        assert run.provider.requests == sent_so_far
        rows = run.rows()
        assert {d.state for d in rows.values()} <= {"queued", "retry_wait"}
        assert all(d.attempts == 0 for d in rows.values())  # the message was not at fault
        assert all(run.tray(h) == [] for h in rows)
        if case == "apns-expired-jwt":
            inner = run.provider.inner
            assert isinstance(inner, ApnsProvider)
            assert inner.tokens.signed == 2  # refreshed once on ExpiredProviderToken, then stopped
    finally:
        await finish(run)


# -- throttled and transient -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
async def test_a_429_waits_at_least_its_retry_after_then_delivers(
    sqlite_db: Database, sim: Sim, provider: Provider
) -> None:
    faults(sim, provider, rate_429=1.0, retry_after_s=30)
    run = await start(sqlite_db, sim, provider, sim.take(provider, 2))
    try:
        await run.step()
        rows = run.rows().values()
        assert {(d.state, d.error_class) for d in rows} == {("retry_wait", "throttled")}
        assert all(d.next_attempt_at.replace(tzinfo=UTC) >= run.clock.now() + timedelta(seconds=30)  # type: ignore[union-attr]
                   for d in rows)
        first = run.provider.requests
        faults(sim, provider, rate_429=0.0)
        await run.step(29)
        assert run.provider.requests == first  # nothing before Retry-After
        await run.step(1)
        rows = run.rows().values()
        assert {d.state for d in rows} == {"sent"} and {d.attempts for d in rows} == {2}
        assert all(run.tray(d.device_id) == [f"herald-{run.campaign}"] for d in rows)
    finally:
        await finish(run)


@pytest.mark.parametrize(("provider", "status"), [
    (Provider.FCM, 503), (Provider.APNS, 500), (Provider.APNS, 503), (Provider.WEBPUSH, 500), (Provider.WEBPUSH, 503),
], ids=lambda v: v.value if isinstance(v, Provider) else str(v))
async def test_a_5xx_is_retried_with_backoff_and_delivers_once_the_service_recovers(
    sqlite_db: Database, sim: Sim, provider: Provider, status: int
) -> None:
    faults(sim, provider, **{f"rate_{status}": 1.0})
    run = await start(sqlite_db, sim, provider, sim.take(provider, 2))
    try:
        await run.step()
        rows = run.rows().values()
        assert {(d.state, d.error_class) for d in rows} == {("retry_wait", "transient")}
        # The SDK's own retries count as attempts (firebase-admin retries a 503 four times by itself).
        spent = 5 if provider is Provider.FCM else 1
        assert {d.attempts for d in rows} == {spent}
        window = run.engine.policy.window(spent)
        for d in rows:
            assert d.next_attempt_at is not None
            due = d.next_attempt_at.replace(tzinfo=UTC)
            assert run.clock.now() <= due <= run.clock.now() + timedelta(seconds=window)
        faults(sim, provider, **{f"rate_{status}": 0.0})
        await run.step(window)
        rows = run.rows().values()
        assert {(d.state, d.attempts) for d in rows} == {("sent", spent + 1)}
        assert all(run.tray(d.device_id) == [f"herald-{run.campaign}"] for d in rows)
    finally:
        await finish(run)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
async def test_a_connection_reset_after_the_request_is_an_ambiguous_retry_shown_once(
    sqlite_db: Database, sim: Sim, provider: Provider
) -> None:
    faults(sim, provider, reset_rate=1.0)
    run = await start(sqlite_db, sim, provider, sim.take(provider, 2))
    try:
        await run.step()
        rows = run.rows().values()
        assert {(d.state, d.error_class) for d in rows} == {("retry_wait", "transient")}
        assert all((d.error_detail or "").startswith("ambiguous:") for d in rows)
        faults(sim, provider, reset_rate=0.0)
        for _ in range(4):
            await run.step(run.engine.policy.window(6))
        rows = run.rows().values()
        assert {d.state for d in rows} == {"sent"}
        assert all(run.tray(d.device_id) == [f"herald-{run.campaign}"] for d in rows)  # same replace key
    finally:
        await finish(run)


# -- consent and throttle --------------------------------------------------------------------------------


async def test_an_opt_out_mid_campaign_is_respected(sqlite_db: Database, sim: Sim) -> None:
    sim_ids = [*sim.take(Provider.FCM, 4), *sim.take(Provider.APNS, 4), *sim.take(Provider.WEBPUSH, 4)]
    devices = register(sqlite_db, sim, sim_ids)
    clock, bus = ManualClock(datetime.now(UTC)), EventBus()
    campaign_id = new_campaign(sqlite_db, clock, {"throttle_per_minute": 60})
    every = {p: Counting(x) for p, x in build_providers(sim.settings()).items()}
    engine = SendEngine(sqlite_db, dict(every), clock, bus, rng=random.Random(5))
    run = Run(sqlite_db, sim, clock, bus, engine, every[Provider.FCM], campaign_id, devices)
    try:
        await engine.start_campaign(run.campaign)
        for _ in range(4):
            await run.step(1)
        reached = {h for h, d in run.rows().items() if d.state == "sent"}
        assert 3 <= len(reached) <= 6
        with sqlite_db.transaction() as s:  # everyone not reached yet withdraws marketing consent
            s.execute(update(User).where(User.id.in_(select(Device.user_id).where(
                Device.id.in_(set(devices) - reached)))).values(marketing_consent=False))
        for _ in range(30):
            await run.step(1)
        rows = run.rows()
        assert {h for h, d in rows.items() if d.state == "sent"} == reached
        assert {(d.state, d.error_class) for h, d in rows.items() if h not in reached} == {("suppressed", "no_consent")}
        assert all(run.tray(h) == ([f"herald-{run.campaign}"] if h in reached else []) for h in rows)
        assert sum(p.requests for p in every.values()) == len(reached)
    finally:
        await engine.aclose()
        for p in every.values():
            await p.aclose()


async def test_the_campaign_throttle_is_never_exceeded(sqlite_db: Database, sim: Sim) -> None:
    sim_ids = [*sim.take(Provider.FCM, 6), *sim.take(Provider.APNS, 6), *sim.take(Provider.WEBPUSH, 6)]
    devices = register(sqlite_db, sim, sim_ids)
    clock = ManualClock(datetime.now(UTC))
    campaign_id = new_campaign(sqlite_db, clock, {"throttle_per_minute": 6})
    providers = build_providers(sim.settings())
    engine = SendEngine(sqlite_db, providers, clock, EventBus(), rng=random.Random(5))
    try:
        await engine.start_campaign(campaign_id)
        while True:
            await engine.run_until_idle()
            with sqlite_db.transaction() as s:
                if s.get(Campaign, campaign_id).state == "completed":  # type: ignore[union-attr]
                    break
            clock.advance(2.5)
            assert clock.monotonic() < 600, "18 messages at 6 a minute take about three minutes"
        with sqlite_db.transaction() as s:
            sent = sorted(d.sent_at.replace(tzinfo=UTC) for d in s.scalars(  # type: ignore[union-attr]
                select(Delivery).where(Delivery.campaign_id == campaign_id)))
        assert len(sent) == len(devices) == 18
        for i, t in enumerate(sent):
            assert sum(1 for u in sent[i:] if u < t + timedelta(seconds=60)) <= 6
        assert sent[-1] - sent[0] >= timedelta(seconds=150)
    finally:
        await engine.aclose()
        for p in providers.values():
            await p.aclose()
