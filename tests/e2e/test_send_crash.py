"""Crash test: ``herald send`` is killed with SIGKILL mid-campaign, restarted, and nothing is lost or doubled.

The simulator (5,000 devices, real FCM / APNs / Web Push protocols on loopback) and Herald's SDK ingest run
in this process; the sender is the real ``python main.py send`` in a subprocess. For each seed, kill points
are drawn from a seeded RNG as *progress observed in the database* (the sender is killed once k of the
campaign's rows have left), never as a wall-clock delay. After each kill the test watches the database
until the dead sender's leases have run out (``HERALD_LEASE_SECONDS`` keeps them short), then starts the
sender again; the last run must complete the campaign by itself.

What a user would notice, checked for every seed:

* every device of the audience has exactly one message row, and it is final (sent, or a state its own
  device reported): nothing is left queued, claimed or waiting;
* every device's tray shows the campaign's notification exactly once, under the replace key;
* raw duplicates the simulator saw (resends after a kill, or an ambiguous failure retried) are bounded by
  the in-flight limit per kill, and all of them collapsed: nothing was displayed twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from core.campaigns.definition import load_definition
from core.campaigns.service import CampaignService
from core.collector.server import BackgroundIngestServer, build_ingest_app
from core.domain import Platform
from core.persistence import Database, open_database
from core.persistence.models import Campaign, Delivery
from core.sending.lane import LaneSettings
from core.sending.outbox import PENDING_STATES
from simulator.fleet import Fleet
from simulator.reporter import SdkReporter
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread
from tests.e2e.send_world import Arrivals, register_fleet, tray_entries

REPO = Path(__file__).resolve().parents[2]
KEY = "hk_crash"
DEVICES = 5000
#: Short enough to keep the test brief, long enough that a live sender's batch never outlives its own lease
#: on a loaded machine (then it would reclaim and resend its own rows).
LEASE_SECONDS = 10.0
KILLS_PER_SEED = 2
#: (seed, audience size): the first seed sends to the whole 5,000-device fleet, the others to a sample.
SEEDS = [(101, DEVICES), (202, 1200), (303, 1200)]
#: Rows one sender can hold at once: every lane (three providers) with its batches in flight.
IN_FLIGHT_LIMIT = 3 * LaneSettings().max_in_flight_batches * LaneSettings().batch_size
FINAL_STATES = {"sent", "delivered", "displayed"}
SENDER_DEADLINE_S = 300.0


@dataclass
class World:
    """A workspace with the fleet registered, the simulator and the ingest running."""

    tmp: Path
    db_url: str
    db: Database
    sim: RuntimeThread
    info: RuntimeInfo
    fleet: Fleet
    arrivals: Arrivals
    #: Herald device id → simulator device id.
    devices: dict[int, int]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("crash")
    db_url = f"sqlite:///{tmp}/workspace.db"
    db = open_database(db_url)
    ingest = BackgroundIngestServer(build_ingest_app(db, KEY))
    herald_url = ingest.start().url
    # The ingest starts its database thread on the first request: start it now, so it belongs to this fixture.
    assert httpx.post(f"{herald_url}/sdk/v1/events", json={"events": []}, headers={"X-Herald-Key": KEY}).is_success
    sim = RuntimeThread(tmp / "sim", RuntimeOptions(devices=DEVICES, seed=5, mix={
        Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1}))
    reporter: SdkReporter | None = None
    try:
        info = sim.start()
        fleet = sim.runtime.fleet
        assert fleet is not None
        fleet.behaviour = None  # nobody taps or swipes: the tray shows exactly what arrived
        devices = register_fleet(db, fleet.devices(), info.profile.webpush_base_url)
        assert len(devices) == DEVICES
        reporter = SdkReporter(herald_url, KEY, fleet_id=fleet.fleet_id,
                               webpush_base_url=info.profile.webpush_base_url)
        fleet.add_listener(reporter.on_fleet_event)  # devices report delivered/displayed back to Herald
        asyncio.run_coroutine_threadsafe(reporter.start(), sim.loop).result(30)
        yield World(tmp, db_url, db, sim, info, fleet, Arrivals(fleet), devices)
    finally:
        if reporter is not None:
            asyncio.run_coroutine_threadsafe(reporter.stop(), sim.loop).result(60)
        sim.stop()
        ingest.stop()
        db.dispose()


def create_campaign(world: World, seed: int, device_ids: list[int]) -> int:
    """A campaign file for the chosen devices' users, created as ``herald campaign create`` does."""
    if len(device_ids) == DEVICES:
        audience = "all_devices = true"
    else:
        users = ", ".join(f'"{world.fleet.device(world.devices[d]).user}"' for d in device_ids)
        audience = f"external_ids = [{users}]"
    path = world.tmp / f"campaign-{seed}.toml"
    path.write_text(f'name = "Crash test {seed}"\n\n[content]\ntitle = "Flash sale {seed}"\n'
                    f'body = "Everything must go"\n\n[audience]\n{audience}\n')
    service = CampaignService(world.db)
    campaign_id = service.create(load_definition(path), actor="crash-test")
    assert sorted(service.audience_devices(campaign_id)) == sorted(device_ids)
    return campaign_id


def start_sender(world: World, campaign_id: int, run: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = world.tmp / f"send-{campaign_id}-{run}.log"
    env = {**os.environ, "HERALD_HOME": str(world.tmp / "home"), "HERALD_LEASE_SECONDS": str(LEASE_SECONDS),
           "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "send", "--campaign", str(campaign_id), "--db", world.db_url,
             "--simulator-state", str(world.tmp / "sim")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    return proc, log


def states(db: Database, campaign_id: int) -> dict[str, int]:
    with db.transaction() as s:
        rows = s.execute(select(Delivery.state, Delivery.id).where(Delivery.campaign_id == campaign_id)).all()
    out: dict[str, int] = {}
    for state, _ in rows:
        out[state] = out.get(state, 0) + 1
    return out


def left(db: Database, campaign_id: int) -> int:
    """Rows of the campaign that are no longer pending (the sender's observable progress)."""
    return sum(n for state, n in states(db, campaign_id).items() if state not in PENDING_STATES)


def held(db: Database, campaign_id: int) -> set[int]:
    """Ids of the rows a sender holds under lease right now."""
    with db.transaction() as s:
        return set(s.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id,
                                                       Delivery.state == "claimed")))


def wait_for_leases_to_expire(db: Database, campaign_id: int, rows: set[int]) -> None:
    """Poll the database until no row the dead sender held is under a live lease (bounded)."""
    deadline = time.monotonic() + 60.0
    while True:
        now = datetime.now(UTC)
        with db.transaction() as s:
            live = s.scalars(select(Delivery.id).where(
                Delivery.campaign_id == campaign_id, Delivery.state == "claimed", Delivery.id.in_(rows),
                Delivery.lease_until > now)).all()
        if not live:
            return
        assert time.monotonic() < deadline, f"{len(live)} leases of a dead sender never ran out"
        time.sleep(0.05)


def kill_when(proc: subprocess.Popen[bytes], db: Database, campaign_id: int, target: int) -> set[int] | None:
    """SIGKILL the sender once ``target`` rows have left; the rows it held then (None: it finished first)."""
    deadline = time.monotonic() + SENDER_DEADLINE_S
    while proc.poll() is None:
        if left(db, campaign_id) >= target:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return held(db, campaign_id)
        assert time.monotonic() < deadline, f"the sender made no progress to {target} rows"
        time.sleep(0.01)
    return None


@pytest.mark.parametrize(("seed", "size"), SEEDS, ids=[f"seed{s}-{n}devices" for s, n in SEEDS])
def test_a_sender_killed_at_random_points_loses_nothing_and_doubles_nothing(
    world: World, seed: int, size: int
) -> None:
    rng = random.Random(seed)
    audience = sorted(world.devices) if size == DEVICES else sorted(rng.sample(sorted(world.devices), size))
    campaign_id = create_campaign(world, seed, audience)
    kill_points = sorted(rng.sample(range(1, int(size * 0.7)), KILLS_PER_SEED))

    held_by_dead: list[set[int]] = []
    proc: subprocess.Popen[bytes] | None = None
    try:
        for run, target in enumerate(kill_points):
            proc, log = start_sender(world, campaign_id, run)
            rows = kill_when(proc, world.db, campaign_id, target)
            assert rows is not None, f"the sender finished before reaching {target} rows:\n{log.read_text()}"
            assert len(rows) <= IN_FLIGHT_LIMIT
            held_by_dead.append(rows)
            wait_for_leases_to_expire(world.db, campaign_id, rows)
        proc, log = start_sender(world, campaign_id, KILLS_PER_SEED)
        code = proc.wait(SENDER_DEADLINE_S)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert code == 0 and f"Campaign {campaign_id} completed" in output, output

    # Exactly one final row per device.
    with world.db.transaction() as s:
        rows_now = s.execute(select(Delivery.id, Delivery.device_id, Delivery.state, Delivery.lease_owner).where(
            Delivery.campaign_id == campaign_id)).all()
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None and campaign.state == "completed"
    assert sorted(r.device_id for r in rows_now) == audience
    assert {r.state for r in rows_now} <= FINAL_STATES, states(world.db, campaign_id)
    assert all(r.lease_owner is None for r in rows_now if r.state == "sent")
    delivery_of = {r.device_id: r.id for r in rows_now}

    # Every tray shows the notification once, under the campaign's replace key.
    for herald_id in audience:
        assert tray_entries(world.fleet, world.devices[herald_id], campaign_id) == [f"herald-{campaign_id}"]

    # Raw duplicates are bounded by what the killed senders could hold in flight, and all of them collapsed.
    accepted, displayed = world.arrivals.snapshot()
    ours = set(delivery_of.values())
    assert all(accepted[d] >= 1 and displayed[d] == 1 for d in ours)
    resent = {d: accepted[d] - 1 for d in ours if accepted[d] > 1}
    assert sum(len(h) for h in held_by_dead) <= KILLS_PER_SEED * IN_FLIGHT_LIMIT
    assert sum(resent.values()) <= KILLS_PER_SEED * IN_FLIGHT_LIMIT, resent
