"""The fleet as the protocol services see it: addressing, answers, offline queues, reactions, stats, events."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.clock import ManualClock
from core.domain import Platform, Provider
from simulator.behaviour import BehaviourModel
from simulator.fleet import Fleet, FleetEvent
from simulator.inbound import AcceptanceStatus, InboundPush, PushKind, RenderedNotification

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SERVER_KEY = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    Encoding.X962, PublicFormat.UncompressedPoint
)


def new_fleet(behaviour: BehaviourModel | None = None) -> tuple[Fleet, ManualClock]:
    clock = ManualClock(START)
    return Fleet(clock, behaviour, application_server_key=SERVER_KEY), clock


def push_to(fleet: Fleet, device_id: int, message_id: str, delivery: int | None, *,
            tray_key: str | None = None, recall_ids: list[int] | None = None, ttl: float = 3600,
            title: str = "Hello") -> InboundPush:
    device = fleet.device(device_id)
    now = fleet.clock.now()
    if recall_ids is not None:
        data: dict[str, object] = {"herald": {"type": "recall", "delivery_ids": recall_ids}}
        if device.provider is Provider.FCM:
            data = {"herald_type": "recall", "herald_recall_ids": ",".join(map(str, recall_ids))}
        note = None
    else:
        data = {"herald": {"delivery_id": delivery, "campaign_id": "3"}}
        if device.provider is Provider.FCM:
            data = {"herald_delivery_id": str(delivery), "herald_campaign_id": "3"}
        note = RenderedNotification(title=title, body="Something new", tray_key=tray_key)
    return InboundPush(
        provider=device.provider, token=device.address, message_id=message_id,
        kind=PushKind.DATA if note is None else PushKind.NOTIFICATION, received_at=now, notification=note,
        data=data, expires_at=now + timedelta(seconds=ttl),
    )


def names(events: list[FleetEvent]) -> list[str]:
    return [e.name for e in events]


def test_create_is_deterministic_per_seed_and_addresses_are_unique() -> None:
    a, _ = new_fleet()
    b, _ = new_fleet()
    made = a.create(300, seed=4)
    again = b.create(300, seed=4)
    assert [(d.platform, d.address, d.locale, d.timezone) for d in made] == [
        (d.platform, d.address, d.locale, d.timezone) for d in again
    ]
    assert len({d.address for d in made}) == 300
    assert {d.platform for d in made} == set(Platform)
    other, _ = new_fleet()
    assert [d.address for d in other.create(300, seed=5)] != [d.address for d in made]


def test_a_web_subscription_has_a_matching_key_pair_bound_to_the_server_key() -> None:
    fleet, _ = new_fleet()
    device = fleet.create(1, mix={Platform.WEB: 1.0}, seed=1)[0]
    keys = fleet.webpush_keys(device.address)
    assert keys is not None and device.subscription is not None
    private = ec.derive_private_key(int.from_bytes(keys.private_key, "big"), ec.SECP256R1())
    assert private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) == keys.public_key
    assert len(keys.auth_secret) == 16 and keys.application_server_key == SERVER_KEY
    assert device.subscription.endpoint_path == f"/push/{device.address}"
    assert fleet.webpush_keys("never-existed") is None


def test_unknown_tokens_uninstalled_apps_and_retired_tokens_get_the_right_answers() -> None:
    fleet, clock = new_fleet()
    device = fleet.create(1, mix={Platform.IOS: 1.0}, seed=1)[0]
    unknown = InboundPush(Provider.APNS, "ab" * 32, "m0", PushKind.NOTIFICATION, START)
    assert fleet.accept(unknown).status is AcceptanceStatus.UNKNOWN_TOKEN
    old_token = device.address
    clock.advance(60)
    fleet.uninstall(device.id)
    answer = fleet.accept(push_to(fleet, device.id, "m1", 1))
    assert (answer.status, answer.unregistered_at) == (AcceptanceStatus.UNREGISTERED, START + timedelta(seconds=60))
    clock.advance(60)
    fleet.reinstall(device.id)
    assert device.address != old_token and device.installed
    stale = InboundPush(Provider.APNS, old_token, "m2", PushKind.NOTIFICATION, clock.now())
    assert fleet.accept(stale) == answer
    assert fleet.accept(push_to(fleet, device.id, "m3", 3)).status is AcceptanceStatus.ACCEPTED


def test_a_web_opt_out_ends_the_subscription_and_opt_in_makes_a_new_one() -> None:
    fleet, _ = new_fleet()
    device = fleet.create(1, mix={Platform.WEB: 1.0}, seed=2)[0]
    old = device.address
    fleet.opt_out(device.id)
    gone = InboundPush(Provider.WEBPUSH, old, "m1", PushKind.NOTIFICATION, START)
    assert fleet.accept(gone).status is AcceptanceStatus.UNREGISTERED
    assert fleet.webpush_keys(old) is not None
    fleet.opt_in(device.id)
    assert device.address and device.address != old
    assert names(fleet.events(device.id))[-3:] == ["opted_out", "registered", "opted_in"]


def test_an_fcm_device_is_rate_limited_past_240_a_minute() -> None:
    fleet, _ = new_fleet()
    device = fleet.create(1, mix={Platform.ANDROID: 1.0}, seed=1)[0]
    answers = [fleet.accept(push_to(fleet, device.id, f"m{i}", i)).status for i in range(241)]
    assert answers[:240] == [AcceptanceStatus.ACCEPTED] * 240
    assert answers[240] is AcceptanceStatus.DEVICE_RATE_LIMITED
    assert fleet.stats()["rejected"] == {"device_rate_limited": 1}


def test_going_online_delivers_what_waited_in_order() -> None:
    fleet, clock = new_fleet()
    device = fleet.create(1, mix={Platform.ANDROID: 1.0}, seed=1)[0]
    fleet.set_online(device.id, False)
    fleet.accept(push_to(fleet, device.id, "short", 1, ttl=30))
    fleet.accept(push_to(fleet, device.id, "a", 2))
    fleet.accept(push_to(fleet, device.id, "b", 3))
    assert len(device.pending or ()) == 3 and not device.tray
    clock.advance(120)
    fleet.set_online(device.id, True)
    shown = [e.message_id for e in fleet.events(device.id) if e.name == "displayed"]
    assert shown == ["a", "b"]
    assert "expired" in names(fleet.events(device.id))


@pytest.mark.parametrize("platform", list(Platform))
def test_a_recall_through_the_fleet_removes_only_its_delivery(platform: Platform) -> None:
    fleet, _ = new_fleet()
    device = fleet.create(1, mix={platform: 1.0}, seed=3)[0]
    fleet.accept(push_to(fleet, device.id, "m1", 11))
    fleet.accept(push_to(fleet, device.id, "m2", 12))
    fleet.accept(push_to(fleet, device.id, "recall", None, recall_ids=[11]))
    assert [e.delivery_id for e in device.tray or ()] == [12]
    recalled = [e for e in fleet.events(device.id) if e.name == "recalled"]
    assert [(e.delivery_id, e.campaign_id) for e in recalled] == [(11, "3")]
    assert fleet.stats()["totals"][platform.value]["recalled"] == 1


def test_users_react_on_the_clock_and_the_same_seed_replays_the_same_run() -> None:
    def run() -> list[tuple[object, ...]]:
        fleet, clock = new_fleet(BehaviourModel(21, time_scale=0.1))
        devices = fleet.create(200, seed=8)
        for i, device in enumerate(devices):
            fleet.accept(push_to(fleet, device.id, f"m{i}", 500 + i, title="Big sale 🎉"))
        assert fleet.next_due() is not None
        for _ in range(60):
            clock.advance(60)
            fleet.run_due()
        assert fleet.next_due() is None
        return [(e.device_id, e.name, e.delivery_id, e.button, e.revenue, e.at) for e in fleet.events(limit=10_000)
                if e.name in ("clicked", "dismissed", "converted", "opted_out")]

    first = run()
    assert first == run()
    kinds = {name for _, name, *_ in first}
    assert {"clicked", "dismissed"} <= kinds


def test_stats_count_per_platform_and_per_second() -> None:
    fleet, clock = new_fleet()
    devices = fleet.create(3, mix={Platform.IOS: 1.0}, seed=1)
    fleet.accept(push_to(fleet, devices[0].id, "m1", 1))
    clock.advance(1)
    fleet.accept(push_to(fleet, devices[1].id, "m2", 2))
    fleet.set_online(devices[2].id, False)
    fleet.accept(push_to(fleet, devices[2].id, "m3", 3))
    fleet.click(devices[0].id)
    stats = fleet.stats()
    ios = stats["devices"]["ios"]
    assert (ios["total"], ios["online"], ios["tray"], ios["pending"]) == (3, 2, 1, 1)
    assert stats["totals"]["ios"]["received"] == 3 and stats["totals"]["ios"]["clicked"] == 1
    seconds = stats["per_second"]
    assert [s["t"] for s in seconds] == [int(START.timestamp()), int(START.timestamp()) + 1]
    assert [s["received"] for s in seconds] == [1, 2]


@pytest.mark.asyncio
async def test_subscribers_get_events_from_other_threads_too() -> None:
    fleet, _ = new_fleet()
    device = fleet.create(1, mix={Platform.ANDROID: 1.0}, seed=1)[0]
    queue = fleet.subscribe()
    worker = threading.Thread(target=fleet.accept, args=(push_to(fleet, device.id, "m1", 1),))
    worker.start()
    worker.join()
    got = [await asyncio.wait_for(queue.get(), 5) for _ in range(2)]
    assert [(e.name, e.delivery_id) for e in got] == [("delivered", 1), ("displayed", 1)]
    fleet.unsubscribe(queue)
    fleet.click(device.id)
    assert queue.empty()


def test_listeners_see_every_event_with_its_device() -> None:
    fleet, _ = new_fleet()
    seen: list[tuple[str, int]] = []
    fleet.add_listener(lambda event, device: seen.append((event.name, device.id)))
    device = fleet.create(1, mix={Platform.IOS: 1.0}, seed=1)[0]
    fleet.accept(push_to(fleet, device.id, "m1", 1))
    fleet.dismiss(device.id, delivery_id=1)
    assert seen == [("registered", 1), ("delivered", 1), ("displayed", 1), ("dismissed", 1)]


@pytest.mark.asyncio
async def test_the_live_loop_carries_out_reactions_and_saves_on_stop(tmp_path: Path) -> None:
    clock = ManualClock(START)
    fleet = Fleet.open(tmp_path, clock, BehaviourModel(2), application_server_key=SERVER_KEY)
    devices = fleet.create(50, mix={Platform.IOS: 1.0}, seed=1)
    await fleet.start(tick=0.001)
    for i, device in enumerate(devices):
        fleet.accept(push_to(fleet, device.id, f"m{i}", i + 1))
    clock.advance(24 * 3600)
    for _ in range(5000):
        if fleet.next_due() is None:
            break
        await asyncio.sleep(0.001)
    await fleet.stop()
    assert fleet.next_due() is None
    assert {"clicked", "dismissed"} <= set(names(fleet.events(limit=10_000)))
    assert fleet.save() == 0
    fleet.close()
