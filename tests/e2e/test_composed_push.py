"""A personalised message composed in Herald arrives in the simulator's trays looking as the preview said.

Over the real protocols on loopback: the simulator's devices register with Herald's ingest API; a rich,
personalised campaign (image, three buttons, badge, sound, collapse key, per-user title and link) is sent by
the ``SendEngine`` with the ``Personaliser`` through firebase-admin, the APNs HTTP/2 client and pywebpush;
each device's tray entry, as the control API draws it (``shown``), equals the composer's preview for that
device's user on that platform — texts cut at the same place, the same fields dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.campaigns.definition import parse_definition
from core.campaigns.service import CampaignService
from core.clock import SystemClock
from core.collector.server import BackgroundIngestServer, build_ingest_app
from core.composer.links import LinkPolicy
from core.composer.personalise import Personaliser
from core.composer.preview import preview
from core.domain import Platform
from core.events import EventBus
from core.persistence import Database
from core.persistence.models import Device, Event, User
from core.providers.factory import build_providers, settings_from_simulator_profile
from core.sending.engine import SendEngine
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread

KEY = "hk_composed"
DEVICES = 9
CONTENT: dict[str, Any] = {
    "title": "{{ first_name | default: 'Hello there' }}, the item you looked at yesterday is now 20 percent off 👟",
    "subtitle": "Only until midnight",
    "body": "{{ recent.last_viewed_product | default: 'Your favourite' }} is back in your size. Tap to see it, "
            "or use a button below to buy it now or be reminded tomorrow morning 🌅 — while stocks last.",
    "image": "https://img.shop.example/p.jpg",
    "deep_link": "https://shop.example/u/{{ user.external_id }}",
    "buttons": [{"id": "buy", "label": "Buy now", "link": "https://shop.example/buy"},
                {"id": "later", "label": "Remind me", "link": "https://shop.example/remind"},
                {"id": "stop", "label": "Fewer like this", "link": "https://shop.example/prefs"}],
    "badge": 2, "sound": "chime", "replace_key": "composed-e2e",
}


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def simulator(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[RuntimeThread, RuntimeInfo]]:
    server = BackgroundIngestServer(build_ingest_app(sqlite_db, KEY))
    url = server.start().url
    thread = RuntimeThread(tmp_path / "sim", RuntimeOptions(
        devices=DEVICES, seed=23, herald_url=url, sdk_key=KEY,
        mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1}))
    info = thread.start()
    try:
        fleet = thread.runtime.fleet
        assert fleet is not None
        fleet.behaviour = None  # users who look and do not touch: every notification stays in the tray

        def registered() -> bool:
            with sqlite_db.transaction() as s:
                return s.scalar(select(func.count()).select_from(Device)) == DEVICES
        wait_for(registered)
        yield thread, info
    finally:
        thread.stop()
        server.stop()


def personalise_users(db: Database) -> None:
    now = datetime.now(UTC)
    with db.transaction() as s:
        users = s.scalars(select(User).order_by(User.id)).all()
        for i, user in enumerate(users):
            if i % 3 != 2:  # a third of the users has no first name: the default shows
                user.attributes = {**user.attributes, "first_name": f"Name{i}"}
            if i % 2 == 0:
                s.add(Event(event_id=f"view-{user.id}", user_id=user.id, name="view_item",
                            properties={"product_id": f"Trail shoe {i}"}, occurred_at=now - timedelta(hours=1),
                            received_at=now))


def shown_in_tray(control_url: str, address: str) -> dict[str, Any] | None:
    devices = httpx.get(f"{control_url}/control/devices", params={"limit": 100}).json()["devices"]
    [summary] = [d for d in devices if d["address"] == address]
    tray = httpx.get(f"{control_url}/control/devices/{summary['id']}").json()["tray"]
    return tray[-1]["shown"] if tray else None


def test_a_composed_message_looks_the_same_in_the_preview_and_in_every_tray(
    simulator: tuple[RuntimeThread, RuntimeInfo], sqlite_db: Database
) -> None:
    thread, info = simulator
    personalise_users(sqlite_db)
    campaigns = CampaignService(sqlite_db)
    campaign_id = campaigns.create(parse_definition({
        "name": "Composed", "content": CONTENT, "audience": {"all_devices": True}}), actor="qa")
    content = campaigns.content(campaign_id)
    profile = json.loads((thread.runtime.state_dir / "profile.json").read_text())
    personaliser = Personaliser(sqlite_db, links=LinkPolicy())

    async def send() -> int:
        clock = SystemClock()
        providers = build_providers(settings_from_simulator_profile(profile), clock)
        engine = SendEngine(sqlite_db, providers, clock, EventBus(), personalise=personaliser)
        try:
            await engine.start_campaign(campaign_id)
            summary = await engine.run_until_idle()
        finally:
            await engine.aclose()
            for provider in providers.values():
                await provider.aclose()
        return summary.sent

    assert asyncio.run(send()) == DEVICES

    with sqlite_db.transaction() as s:
        devices = [(d.id, Platform(d.platform), d.token) for d in s.scalars(select(Device).order_by(Device.id))]
    recipients = personaliser.directory.load([d for d, _, _ in devices])
    seen_platforms = set()
    for device_id, platform, token in devices:
        address = token.rsplit("/", 1)[-1] if platform is Platform.WEB else token
        wait_for(lambda address=address: shown_in_tray(info.control_url, address) is not None)  # type: ignore[misc]
        in_tray = shown_in_tray(info.control_url, address)
        expected = preview(content, recipients[device_id], personaliser, campaign_id=campaign_id,
                           platforms=(platform,)).platforms[platform]
        assert expected.error is None and expected.shown is not None
        previewed = expected.shown.as_dict()
        assert in_tray is not None
        # Fields the payload never carries (an FCM notification's buttons) are dropped before the device.
        assert set(in_tray.pop("dropped")) <= set(previewed.pop("dropped"))
        assert in_tray == previewed, platform
        if platform is Platform.WEB:  # two actions at most, texts cut, no badge count on the web
            assert len(in_tray["buttons"]) == 2 and {"title", "body"} <= set(in_tray["truncated"])
            assert in_tray["badge"] is None and in_tray["title"].endswith("…")
        elif platform is Platform.IOS:
            assert in_tray["subtitle"] == CONTENT["subtitle"] and len(in_tray["buttons"]) == 3
            assert (in_tray["badge"], in_tray["sound"], in_tray["image"]) == (2, "chime", CONTENT["image"])
        else:
            assert in_tray["buttons"] == [] and in_tray["subtitle"] == "" and in_tray["image"] == CONTENT["image"]
        seen_platforms.add(platform)
        user = recipients[device_id]
        name = user.variables.get("first_name", "Hello there")
        assert in_tray["title"].startswith(name[:20])
        assert in_tray["deep_link"] == f"https://shop.example/u/{user.external_id}"
    assert seen_platforms == {Platform.ANDROID, Platform.IOS, Platform.WEB}
