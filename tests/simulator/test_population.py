"""The demo population: deterministic users, devices and history whose shape follows the users' traits,
and a backfill that reaches Herald's ingest API in batches, with retries, over real HTTP."""

from __future__ import annotations

import asyncio
import math
import re
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.clock import ManualClock
from core.collector.schemas import parse_event
from core.domain import Platform, Provider
from core.imports import import_users
from core.persistence import Database
from core.persistence.models import User
from simulator.backfill import BackfillFailed, backfill
from simulator.behaviour import BehaviourModel, first_name_for
from simulator.fleet import Fleet
from simulator.population import (
    SyntheticUser,
    generate_population,
    history,
    register_devices,
    register_with_herald,
    write_users_csv,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
KEY = "hk_population_test"
SERVER_KEY = bytes([4]) + bytes(range(64))


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


@pytest.fixture(scope="module")
def crowd() -> list[tuple[SyntheticUser, list[dict[str, Any]]]]:
    """800 users of seed 3 with their histories (generated once: the trait tests share them)."""
    return [(u, history(u)) for u in generate_population(800, 3, NOW)]


def _sessions_between(events: list[dict[str, Any]], days_ago_from: int, days_ago_to: int) -> int:
    start, end = NOW - timedelta(days=days_ago_from), NOW - timedelta(days=days_ago_to)
    return sum(1 for e in events if e["name"] == "session_start" and start <= _at(e) < end)


# -- determinism ----------------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_users_and_events_and_another_seed_does_not() -> None:
    first, again, other = (generate_population(30, s, NOW) for s in (5, 5, 6))
    assert first == again
    assert [history(u) for u in first] == [history(u) for u in again]
    assert [u.traits for u in first] != [u.traits for u in other]
    assert {e["id"] for u in first for e in history(u)}.isdisjoint({e["id"] for u in other for e in history(u)})


def test_event_ids_stay_the_same_when_the_demo_runs_again_later() -> None:
    (user,) = generate_population(1, 9, NOW)
    (later,) = generate_population(1, 9, NOW + timedelta(days=2))
    assert [e["id"] for e in history(user)] == [e["id"] for e in history(later)]


def test_traits_are_the_behaviour_models_so_pushes_meet_the_same_person() -> None:
    model = BehaviourModel(4)
    for user in generate_population(20, 4, NOW):
        assert user.traits == model.traits(user.external_id)
        assert user.attributes["first_name"] == first_name_for(user.external_id)


def _fleet(clock: ManualClock) -> Fleet:
    return Fleet(clock, application_server_key=SERVER_KEY)


def test_devices_are_the_same_per_seed_and_a_rerun_adds_none() -> None:
    users = generate_population(40, 2, NOW)
    clock = ManualClock(NOW)
    fleet, twin = _fleet(clock), _fleet(clock)
    devices = register_devices(fleet, users)
    assert [d.address for d in devices] == [d.address for d in register_devices(twin, users)]
    assert len(devices) == sum(len(u.devices) for u in users)
    assert register_devices(fleet, users) == devices
    assert len(fleet) == len(devices)
    other = register_devices(_fleet(clock), generate_population(40, 8, NOW))
    assert {d.address for d in devices}.isdisjoint({d.address for d in other})


def test_users_have_one_to_three_devices_in_a_realistic_mix() -> None:
    users = generate_population(2000, 1, NOW)
    counts = [len(u.devices) for u in users]
    assert set(counts) == {1, 2, 3} and statistics.mean(counts) < 1.8
    plans = [d for u in users for d in u.devices]
    share = {p: sum(d.platform is p for d in plans) / len(plans) for p in Platform}
    assert share[Platform.ANDROID] > share[Platform.IOS] > share[Platform.WEB] > 0.1
    assert all(d.provider is {Platform.ANDROID: Provider.FCM, Platform.IOS: Provider.APNS,
                              Platform.WEB: Provider.WEBPUSH}[d.platform] for d in plans)


def test_city_locale_and_time_zone_agree() -> None:
    for user in generate_population(300, 1, NOW):
        assert abs(user.latitude - user.city.latitude) <= 0.05 and abs(user.longitude - user.city.longitude) <= 0.05
        assert user.locale.endswith(user.city.country)
    cities = {u.city.name for u in generate_population(500, 1, NOW)}
    assert {"Istanbul", "Berlin", "London", "São Paulo"} <= cities


# -- traits drive history -------------------------------------------------------------------------------------


def test_high_churn_users_fade_while_low_churn_users_keep_coming(crowd: list[Any]) -> None:
    ranked = sorted(crowd, key=lambda pair: pair[0].traits.churn_propensity)
    low, high = ranked[:200], ranked[-200:]

    def recent_share(group: list[Any]) -> float:
        recent = sum(_sessions_between(h, 21, 0) for _, h in group)
        early = sum(_sessions_between(h, 90, 69) for _, h in group)
        return recent / early

    assert recent_share(high) < 0.5 * recent_share(low)


def test_engaged_users_have_more_sessions_mostly_in_their_preferred_hours(crowd: list[Any]) -> None:
    ranked = sorted(crowd, key=lambda pair: pair[0].traits.engagement)
    sessions = [[e for e in h if e["name"] == "session_start"] for _, h in ranked]
    assert statistics.mean(map(len, sessions[-200:])) > 2 * statistics.mean(map(len, sessions[:200]))
    model = BehaviourModel(0)

    def preferred_share(group: range) -> float:
        hits = [ranked[i][0].traits.prefers(model.local_hour(_at(e), ranked[i][0].timezone))
                for i in group for e in sessions[i]]
        return float(sum(hits) / len(hits))

    engaged, aloof = preferred_share(range(len(ranked) - 100, len(ranked))), preferred_share(range(100))
    assert engaged > 0.55 and engaged > aloof + 0.2


def test_price_sensitive_users_buy_cheaper_and_more_often_on_discount(crowd: list[Any]) -> None:
    ranked = sorted(crowd, key=lambda pair: pair[0].traits.price_sensitivity)

    def purchases(group: list[Any]) -> list[dict[str, Any]]:
        return [e for _, h in group for e in h if e["name"] == "purchase"]

    thrifty, lavish = purchases(ranked[-250:]), purchases(ranked[:250])
    mean_item = [statistics.mean(e["revenue"] / e["properties"]["items"] for e in g) for g in (thrifty, lavish)]
    assert mean_item[0] < 0.8 * mean_item[1]
    discounted = [sum(e["properties"]["discounted"] for e in g) / len(g) for g in (thrifty, lavish)]
    assert discounted[0] > discounted[1] + 0.05


def test_some_carts_were_abandoned_in_the_last_day(crowd: list[Any]) -> None:
    abandoned = []
    for user, events in crowd:
        carts = [e for e in events if e["name"] == "add_to_cart" and _at(e) > NOW - timedelta(days=1)]
        if carts and not any(e["name"] == "purchase" and _at(e) > _at(carts[-1]) for e in events):
            abandoned.append(user)
    assert len(abandoned) >= 0.05 * len(crowd)
    assert {u.external_id for u, _ in crowd if u.abandons_cart} <= {u.external_id for u in abandoned}


def test_dormant_users_exist_and_they_are_the_churn_prone(crowd: list[Any]) -> None:
    dormant = [u for u, h in crowd if h and max(map(_at, h)) < NOW - timedelta(days=14)]
    assert len(dormant) >= 0.05 * len(crowd)
    everyone = statistics.mean(u.traits.churn_propensity for u, _ in crowd)
    assert statistics.mean(u.traits.churn_propensity for u in dormant) > 1.5 * everyone


def test_default_volume_is_a_demo_not_a_data_warehouse(crowd: list[Any]) -> None:
    assert 50 <= statistics.mean(len(h) for _, h in crowd) <= 150


# -- Herald's event rules -------------------------------------------------------------------------------------


def test_every_event_is_one_herald_accepts(crowd: list[Any]) -> None:
    ids: set[str] = set()
    for user, events in crowd[:300]:
        signed_up = user.signed_up - timedelta(days=1)
        for index, raw in enumerate(events):
            event = parse_event(orjson.loads(orjson.dumps(raw)), f"events.{index}.")
            assert NAME.match(event.name) and event.user == user.external_id
            assert raw["at"].endswith("Z") and max(signed_up, NOW - timedelta(days=91)) <= event.occurred_at <= NOW
            assert event.revenue is None or (math.isfinite(event.revenue) and event.revenue > 0)
            assert (event.revenue is not None) == (event.name == "purchase")
            assert event.event_id not in ids and len(event.event_id) <= 128
            ids.add(event.event_id)
        assert [e["at"] for e in events] == sorted(e["at"] for e in events)


def test_attributes_go_in_through_cores_users_import(sqlite_db: Database, tmp_path: Path) -> None:
    users = generate_population(25, 4, NOW)
    result = import_users(sqlite_db, write_users_csv(users, tmp_path / "users.csv"), clock=ManualClock(NOW))
    assert (result.imported, result.rejected) == (25, 0)
    with sqlite_db.transaction() as session:
        stored = session.scalars(select(User).where(User.external_id == users[0].external_id)).one()
        assert stored.attributes["first_name"] == users[0].attributes["first_name"]
        assert stored.attributes["plan"] == users[0].plan
        assert (stored.timezone, stored.locale) == (users[0].timezone, users[0].locale)
        assert stored.latitude == pytest.approx(users[0].latitude)


# -- backfill over HTTP ---------------------------------------------------------------------------------------


@dataclass
class FakeIngest:
    """Herald's ingest API reduced to what a backfill needs; fails the first ``fail_first`` requests with 503."""

    fail_first: int = 0
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    devices: list[dict[str, Any]] = field(default_factory=list)

    async def events(self, request: Request) -> Response:
        self.requests += 1
        self.keys.add(request.headers.get("x-herald-key", ""))
        if request.headers.get("x-herald-key") != KEY:
            return JSONResponse({"error": "missing or wrong X-Herald-Key header"}, 401)
        if self.requests <= self.fail_first:
            return JSONResponse({"error": "busy"}, 503, headers={"Retry-After": "0"})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            batch = orjson.loads(await request.body())["events"]
            await asyncio.sleep(0.05)
        finally:
            self.in_flight -= 1
        self.batches.append(batch)
        fresh = {e["id"] for e in batch} - self.seen
        self.seen |= fresh
        rejected = [{"index": i, "error": "bad"} for i, e in enumerate(batch) if not NAME.match(e["name"])]
        return JSONResponse({"accepted": len(fresh), "duplicates": len(batch) - len(fresh), "rejected": rejected})

    async def register(self, request: Request) -> Response:
        self.devices.append(orjson.loads(await request.body()))
        return JSONResponse({"device_id": len(self.devices), "user_id": 1, "created": True, "revived": False}, 201)


@pytest.fixture
def ingest() -> Iterator[tuple[FakeIngest, str]]:
    """A ``FakeIngest`` served by uvicorn on an ephemeral loopback port; the thread is joined afterwards."""
    fake = FakeIngest()
    app = Starlette(routes=[Route("/sdk/v1/events", fake.events, methods=["POST"]),
                            Route("/sdk/v1/devices", fake.register, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio", ws="none"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), name="fake-ingest")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the fake ingest server did not start"
        time.sleep(0.01)
    try:
        yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_backfill_posts_every_event_once_in_full_batches_and_retries_a_busy_herald(
    ingest: tuple[FakeIngest, str],
) -> None:
    fake, url = ingest
    fake.fail_first = 2
    users = generate_population(40, 11, NOW)
    expected = [e["id"] for u in users for e in history(u)]
    progress: list[tuple[int, int]] = []
    result = asyncio.run(backfill(users, url, KEY, lambda done, total: progress.append((done, total)),
                                  batch_size=500, concurrency=3, base_backoff=0.01))

    assert fake.keys == {KEY}
    sizes = [len(b) for b in fake.batches]
    assert max(sizes) == 500 and sum(sizes) == len(expected) and sizes.count(500) == len(expected) // 500
    assert sorted(e["id"] for b in fake.batches for e in b) == sorted(expected)
    assert 1 < fake.max_in_flight <= 3
    assert (result.retries, result.accepted, result.duplicates, result.rejected) == (2, len(expected), 0, 0)
    assert (result.users, result.events, result.batches) == (40, len(expected), len(sizes))
    assert progress[-1] == (40, 40) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert {t for _, t in progress} == {40}


def test_running_the_backfill_again_yields_duplicates_not_new_rows(ingest: tuple[FakeIngest, str]) -> None:
    _, url = ingest
    users = generate_population(8, 12, NOW)
    first = asyncio.run(backfill(users, url, KEY))
    again = asyncio.run(backfill(users, url, KEY))
    assert first.accepted == again.duplicates == first.events > 0
    assert again.accepted == 0


def test_a_wrong_key_fails_fast_with_herald_s_reason(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    with pytest.raises(BackfillFailed, match=r"401.*X-Herald-Key"):
        asyncio.run(backfill(generate_population(30, 1, NOW), url, "wrong", batch_size=100, concurrency=2))
    assert fake.requests <= 3


def test_a_herald_that_stays_down_ends_the_backfill(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    fake.fail_first = 1000
    with pytest.raises(BackfillFailed, match="gave up after 3 attempts: HTTP 503"):
        asyncio.run(backfill(generate_population(2, 1, NOW), url, KEY, max_attempts=3, base_backoff=0.01))


def test_devices_register_with_herald_like_the_sdk(ingest: tuple[FakeIngest, str]) -> None:
    fake, url = ingest
    users = generate_population(15, 2, NOW)
    fleet = _fleet(ManualClock(NOW))
    devices = register_devices(fleet, users)
    stats = asyncio.run(register_with_herald(devices, url, KEY, fleet_id=fleet.fleet_id,
                                             webpush_base_url="http://127.0.0.1:9"))
    assert stats.registered == len(devices) == len(fake.devices)
    by_user = {u.external_id: u for u in users}
    for body in fake.devices:
        user = by_user[body["user"]]
        assert (body["locale"], body["timezone"]) == (user.locale, user.timezone)
        assert ("subscription" in body) == (body["platform"] == "web")
