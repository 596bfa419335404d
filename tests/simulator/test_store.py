"""Restarting the simulator keeps every device: its token or subscription keys, its state, its old tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.clock import ManualClock
from core.domain import Platform, Provider
from simulator.fleet import Fleet
from simulator.inbound import AcceptanceStatus, InboundPush, PushKind
from simulator.store import FILE_NAME, DeviceStore

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SERVER_KEY = b"\x04" + bytes(range(64))


def snapshot(fleet: Fleet) -> list[tuple[object, ...]]:
    return [
        (d.id, d.platform, d.provider, d.user, d.locale, d.timezone, d.app_version, d.token,
         d.subscription, d.online, d.installed, d.uninstalled_at, d.push_enabled, d.generation)
        for d in fleet.devices()
    ]


def test_a_restart_keeps_every_device_and_its_address(tmp_path: Path) -> None:
    clock = ManualClock(START)
    fleet = Fleet.open(tmp_path, clock, application_server_key=SERVER_KEY)
    fleet.create(600, seed=12)
    web = next(d for d in fleet.devices() if d.platform is Platform.WEB)
    ios = next(d for d in fleet.devices() if d.platform is Platform.IOS)
    android = next(d for d in fleet.devices() if d.platform is Platform.ANDROID)
    old_ios_token = ios.address
    old_web_subscription = web.address
    clock.advance(30)
    fleet.uninstall(ios.id)
    fleet.reinstall(ios.id)
    fleet.opt_out(web.id)
    fleet.set_online(android.id, False)
    before, fleet_id = snapshot(fleet), fleet.fleet_id
    fleet.close()

    again = Fleet.open(tmp_path, ManualClock(START + timedelta(days=1)))
    assert snapshot(again) == before
    assert again.fleet_id == fleet_id
    for device in again.devices():
        if device.address:
            assert again.by_address(device.provider, device.address) is device
    stale = InboundPush(Provider.APNS, old_ios_token, "m1", PushKind.NOTIFICATION, START)
    answer = again.accept(stale)
    assert (answer.status, answer.unregistered_at) == (AcceptanceStatus.UNREGISTERED, START + timedelta(seconds=30))
    assert again.webpush_keys(old_web_subscription) is not None
    again.close()


def test_web_subscription_keys_survive_byte_for_byte(tmp_path: Path) -> None:
    fleet = Fleet.open(tmp_path, ManualClock(START), application_server_key=SERVER_KEY)
    devices = fleet.create(20, mix={Platform.WEB: 1.0}, seed=3)
    keys = {d.address: fleet.webpush_keys(d.address) for d in devices}
    fleet.close()
    again = Fleet.open(tmp_path, ManualClock(START))
    assert {address: again.webpush_keys(address) for address in keys} == keys
    again.close()


def test_saving_writes_only_new_and_changed_devices(tmp_path: Path) -> None:
    fleet = Fleet.open(tmp_path, ManualClock(START), application_server_key=SERVER_KEY)
    fleet.create(50, seed=1)
    assert fleet.save() == 50
    assert fleet.save() == 0
    fleet.set_online(7, False)
    fleet.opt_out(9)
    assert fleet.save() in (2, 3)
    fleet.close()
    store = DeviceStore.in_dir(tmp_path)
    assert store.count() == 50
    store.close()


def test_devices_created_after_a_restart_continue_the_id_sequence(tmp_path: Path) -> None:
    fleet = Fleet.open(tmp_path, ManualClock(START), application_server_key=SERVER_KEY)
    fleet.create(5, seed=1)
    fleet.close()
    again = Fleet.open(tmp_path, ManualClock(START), application_server_key=SERVER_KEY)
    added = again.add_device("alice", Platform.IOS, locale="de_DE", timezone="Europe/Berlin", seed="demo")
    assert added.id == 6 and added.user == "alice" and added.provider is Provider.APNS
    again.close()
    assert (tmp_path / FILE_NAME).exists()
    third = Fleet.open(tmp_path, ManualClock(START))
    assert [d.id for d in third.devices()] == [1, 2, 3, 4, 5, 6]
    third.close()
