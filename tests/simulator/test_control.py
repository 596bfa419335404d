"""The control API: what a QA engineer or the console sees of the fleet and how they steer it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from core.clock import ManualClock
from core.domain import Platform
from simulator.control import create_control_app
from simulator.fleet import Fleet
from simulator.inbound import Button, InboundPush, PushKind, RenderedNotification
from simulator.services.faults import ServiceFaults

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SERVER_KEY = b"\x04" + bytes(range(64))


@pytest.fixture
def fleet() -> Fleet:
    made = Fleet(ManualClock(START), application_server_key=SERVER_KEY)
    made.create(10, mix={Platform.ANDROID: 1.0}, seed=1)
    made.create(5, mix={Platform.WEB: 1.0}, seed=1)
    return made


@pytest_asyncio.fixture
async def client(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    app = create_control_app(fleet, ServiceFaults(seed=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
        yield http


def send(fleet: Fleet, device_id: int, delivery: int, *, ttl: float = 3600) -> None:
    device = fleet.device(device_id)
    note = RenderedNotification(title=f"Offer {delivery}", buttons=(Button("buy", "Buy"),), tray_key=f"k{delivery}")
    fleet.accept(InboundPush(device.provider, device.address, f"m{delivery}", PushKind.NOTIFICATION,
                             fleet.clock.now(), note, {"herald_delivery_id": str(delivery)},
                             expires_at=fleet.clock.now() + timedelta(seconds=ttl)))


@pytest.mark.asyncio
async def test_devices_are_listed_with_filters_paging_and_counts(client: httpx.AsyncClient, fleet: Fleet) -> None:
    send(fleet, 1, 100)
    fleet.set_online(2, False)
    send(fleet, 2, 101)
    page = (await client.get("/control/devices", params={"platform": "android", "limit": 3})).json()
    assert page["total"] == 10 and [d["id"] for d in page["devices"]] == [1, 2, 3]
    first, second = page["devices"][:2]
    assert (first["tray_count"], first["pending_count"], first["online"]) == (1, 0, True)
    assert (second["tray_count"], second["pending_count"], second["online"]) == (0, 1, False)
    offline = (await client.get("/control/devices", params={"online": "false"})).json()
    assert [d["id"] for d in offline["devices"]] == [2]
    web = (await client.get("/control/devices", params={"platform": "web", "offset": 3})).json()
    assert [d["id"] for d in web["devices"]] == [14, 15]
    assert (await client.get("/control/devices", params={"platform": "fax"})).status_code == 400
    assert (await client.get("/control/devices", params={"limit": "many"})).status_code == 400


@pytest.mark.asyncio
async def test_one_device_shows_its_tray_pending_queue_and_events(client: httpx.AsyncClient, fleet: Fleet) -> None:
    send(fleet, 1, 100)
    fleet.set_online(1, False)
    send(fleet, 1, 101)
    detail = (await client.get("/control/devices/1")).json()
    assert [e["delivery_id"] for e in detail["tray"]] == [100]
    assert detail["tray"][0]["notification"]["buttons"] == [{"id": "buy", "label": "Buy", "link": None}]
    assert [p["message_id"] for p in detail["pending"]] == ["m101"]
    events = (await client.get("/control/devices/1/events")).json()["events"]
    assert [e["name"] for e in events] == ["registered", "delivered", "displayed", "offline", "queued"]
    assert (await client.get("/control/devices/999")).status_code == 404


@pytest.mark.asyncio
async def test_actions_steer_a_device(client: httpx.AsyncClient, fleet: Fleet) -> None:
    send(fleet, 1, 100)
    send(fleet, 1, 101)
    clicked = await client.post("/control/devices/1/click", json={"delivery_id": 100, "button": "buy"})
    assert clicked.status_code == 200
    assert clicked.json()["event"]["name"] == "clicked" and clicked.json()["event"]["button"] == "buy"
    assert (await client.post("/control/devices/1/dismiss")).json()["device"]["tray_count"] == 0
    assert (await client.post("/control/devices/1/click")).status_code == 409
    assert (await client.post("/control/devices/1/click", json={"delivery_id": "x"})).status_code == 400
    send(fleet, 1, 102)
    assert (await client.post("/control/devices/1/click", json={"button": "nope"})).status_code == 400
    assert (await client.post("/control/devices/1/offline")).json()["device"]["online"] is False
    assert (await client.post("/control/devices/1/online")).json()["device"]["online"] is True
    old = fleet.device(1).address
    assert (await client.post("/control/devices/1/uninstall")).json()["device"]["installed"] is False
    reinstalled = (await client.post("/control/devices/1/reinstall")).json()["device"]
    assert reinstalled["installed"] is True and reinstalled["address"] != old
    assert (await client.post("/control/devices/11/opt-out")).json()["device"]["push_enabled"] is False
    assert (await client.post("/control/devices/11/opt-in")).json()["device"]["push_enabled"] is True
    assert (await client.post("/control/devices/1/explode")).status_code == 404
    assert (await client.post("/control/devices/1/click", content=b"{not json")).status_code == 400


@pytest.mark.asyncio
async def test_stats_are_served_per_platform_and_per_second(client: httpx.AsyncClient, fleet: Fleet) -> None:
    send(fleet, 1, 100)
    stats = (await client.get("/control/stats")).json()
    assert stats["devices"]["android"]["total"] == 10 and stats["devices"]["web"]["total"] == 5
    assert stats["totals"]["android"]["displayed"] == 1
    assert stats["per_second"] == [{"t": int(START.timestamp()), "received": 1, "displayed": 1, "clicked": 0,
                                    "dismissed": 0, "recalled": 0, "converted": 0}]


@pytest.mark.asyncio
async def test_faults_are_read_and_changed_per_service(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/control/faults")).json()
    assert set(everything) == {"oauth", "fcm", "apns", "webpush"}
    changed = await client.put("/control/faults/apns", json={"rate_429": 0.25, "retry_after_s": 3})
    assert changed.status_code == 200 and changed.json()["rate_429"] == 0.25
    assert (await client.get("/control/faults/apns")).json()["retry_after_s"] == 3
    assert (await client.put("/control/faults/apns", json={"rate_429": 7})).status_code == 400
    assert (await client.put("/control/faults/apns", json={"no_such_field": 1})).status_code == 400
    assert (await client.get("/control/faults/pigeon")).status_code == 404


@pytest.mark.asyncio
async def test_the_stream_sends_fleet_events_as_server_sent_events(client: httpx.AsyncClient, fleet: Fleet) -> None:
    request = asyncio.create_task(client.get("/control/stream", params={"limit": 2, "device": 3}))
    while fleet.subscriber_count == 0:
        await asyncio.sleep(0.001)
    send(fleet, 1, 100)
    send(fleet, 3, 101)
    response = await asyncio.wait_for(request, 5)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f.startswith("id:")]
    data = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert [(d["name"], d["device_id"], d["delivery_id"]) for d in data] == [("delivered", 3, 101),
                                                                          ("displayed", 3, 101)]
    assert fleet.subscriber_count == 0
