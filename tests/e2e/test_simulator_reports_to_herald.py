"""End to end over loopback: Herald's ingest API, the simulator runtime, and the real client libraries.

A push sent with pywebpush (Web Push) or an httpx HTTP/2 request (APNs) to a simulated device carries a
Herald delivery id; the device shows it and its SDK reports back, so the delivery's state moves in
Herald's own database — the whole loop a real campaign goes through, with no fakes in it.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from pywebpush import webpush
from sqlalchemy import select

from core.collector.server import BackgroundIngestServer, build_ingest_app
from core.domain import Platform
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Device
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread

KEY = "hk_e2e"


@pytest.fixture
def herald(sqlite_db: Database) -> Iterator[str]:
    server = BackgroundIngestServer(build_ingest_app(sqlite_db, KEY))
    address = server.start()
    yield address.url
    server.stop()


@pytest.fixture
def simulator(herald: str, tmp_path: Path) -> Iterator[RuntimeInfo]:
    options = RuntimeOptions(devices=12, seed=7, herald_url=herald, sdk_key=KEY,
                             mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1})
    thread = RuntimeThread(tmp_path / "sim", options)
    info = thread.start()
    yield info
    thread.stop()


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def registered(db: Database, provider: str) -> list[Device]:
    with db.transaction() as s:
        return list(s.scalars(select(Device).where(Device.provider == provider)))


def new_delivery(db: Database, device: Device) -> int:
    now = datetime.now(UTC)
    with db.transaction() as s:
        campaign = Campaign(name="e2e", content={}, audience={}, settings={}, created_at=now, updated_at=now)
        s.add(campaign)
        s.flush()
        delivery = Delivery(campaign_id=campaign.id, device_id=device.id, provider=device.provider, state="sent",
                            queued_at=now, sent_at=now)
        s.add(delivery)
        s.flush()
        return delivery.id


def delivery_state(db: Database, delivery_id: int) -> str:
    with db.transaction() as s:
        row = s.get(Delivery, delivery_id)
        assert row is not None
        return row.state


def tray(control_url: str, platform: str) -> list[dict[str, object]]:
    devices = httpx.get(f"{control_url}/control/devices", params={"platform": platform, "limit": 100}).json()
    out = []
    for summary in devices["devices"]:
        detail = httpx.get(f"{control_url}/control/devices/{summary['id']}").json()
        out.extend(detail["tray"])
    return out


def all_registered(db: Database) -> bool:
    return sum(len(registered(db, p)) for p in ("fcm", "apns", "webpush")) == 12


def test_every_device_registers_with_herald(simulator: RuntimeInfo, sqlite_db: Database) -> None:
    wait_for(lambda: all_registered(sqlite_db))
    web = registered(sqlite_db, "webpush")
    assert web and all(d.subscription and d.token.startswith(simulator.profile.webpush_base_url) for d in web)


def test_a_web_push_reaches_the_tray_and_herald_sees_it_displayed(
    simulator: RuntimeInfo, sqlite_db: Database
) -> None:
    wait_for(lambda: all_registered(sqlite_db))
    device = registered(sqlite_db, "webpush")[0]
    delivery_id = new_delivery(sqlite_db, device)
    profile = simulator.profile
    payload = {"title": "Spring sale", "body": "20% off everything", "tag": f"d{delivery_id}",
               "data": {"url": "https://shop.example/sale"}, "herald": {"delivery_id": delivery_id,
                                                                      "campaign_id": 1, "type": "message"}}
    response = webpush(
        subscription_info=device.subscription, data=json.dumps(payload),
        vapid_private_key=profile.vapid_private_key_path, vapid_claims={"sub": "mailto:qa@herald.example"}, ttl=3600,
    )
    assert response.status_code == 201
    wait_for(lambda: delivery_state(sqlite_db, delivery_id) in ("displayed", "clicked", "dismissed"))
    assert any(entry["notification"]["title"] == "Spring sale" for entry in tray(simulator.control_url, "web"))


def test_an_apns_push_over_http2_is_reported_back(simulator: RuntimeInfo, sqlite_db: Database) -> None:
    wait_for(lambda: all_registered(sqlite_db))
    device = registered(sqlite_db, "apns")[0]
    delivery_id = new_delivery(sqlite_db, device)
    profile = simulator.profile
    token = jwt.encode({"iss": profile.apns_team_id, "iat": int(time.time())},
                       Path(profile.apns_key_path).read_text(), algorithm="ES256",
                       headers={"kid": profile.apns_key_id})
    context = ssl.create_default_context(cafile=profile.ca_cert_path)
    body = {"aps": {"alert": {"title": "Back in stock", "body": "Your size is back"}},
            "herald": {"delivery_id": delivery_id, "campaign_id": 1, "type": "message"}}
    with httpx.Client(http2=True, verify=context) as client:
        r = client.post(f"{profile.apns_url}/3/device/{device.token}", json=body, headers={
            "authorization": f"bearer {token}", "apns-topic": profile.apns_bundle_id, "apns-push-type": "alert",
            "apns-priority": "10", "apns-id": str(uuid.uuid4())})
    assert r.status_code == 200 and r.http_version == "HTTP/2"
    wait_for(lambda: delivery_state(sqlite_db, delivery_id) in ("displayed", "clicked", "dismissed"))
