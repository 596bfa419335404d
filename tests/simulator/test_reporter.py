"""The SDK reporter against a small in-test ingest server: batches, retries, idempotent ids, registrations."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.clock import ManualClock
from core.domain import Platform
from simulator.behaviour import BehaviourModel
from simulator.fleet import Fleet, FleetEvent
from simulator.inbound import Button, InboundPush, PushKind, RenderedNotification
from simulator.reporter import SdkReporter

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KEY = "hk_test"
SERVER_KEY = b"\x04" + bytes(range(64))


class IngestServer:
    """Herald's ingest API in miniature: one row per event id, optional failures first."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.batches: list[list[str]] = []
        self.devices: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.app = Starlette(routes=[
            Route("/sdk/v1/events", self.events, methods=["POST"]),
            Route("/sdk/v1/devices", self.register, methods=["POST"]),
        ])

    def _refuse(self, request: Request) -> JSONResponse | None:
        if request.headers.get("x-herald-key") != KEY:
            return JSONResponse({"error": "bad key"}, status_code=401)
        if self.fail_first > 0:
            self.fail_first -= 1
            return JSONResponse({"error": "busy"}, status_code=self.fail_status, headers={"Retry-After": "0"})
        return None

    async def events(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        refused = self._refuse(request)
        if refused is not None:
            return refused
        events = body["events"]
        self.batches.append([e["id"] for e in events])
        accepted = duplicates = 0
        rejected = []
        for index, event in enumerate(events):
            if event["name"] == "bad":
                rejected.append({"index": index, "error": "name: unknown"})
            elif event["id"] in self.rows:
                duplicates += 1
            else:
                self.rows[event["id"]] = event
                accepted += 1
        return JSONResponse({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})

    async def register(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        refused = self._refuse(request)
        if refused is not None:
            return refused
        self.devices.append(body)
        return JSONResponse({"device_id": len(self.devices)}, status_code=201)


class FlakyTransport(httpx.AsyncBaseTransport):
    """Fails the first ``failures`` requests with a connection error, then passes them on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures > 0:
            self.failures -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


def reporter_for(server: IngestServer, *, connection_failures: int = 0, **options: Any) -> SdkReporter:
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=server.app)
    if connection_failures:
        transport = FlakyTransport(transport, connection_failures)
    return SdkReporter("http://herald.test", KEY, fleet_id="f1", webpush_base_url="http://sim.test:9000",
                       base_backoff=0.001, max_backoff=0.01, transport=transport, **options)


def campaign_fleet(reporter: SdkReporter, n: int = 1, platform: Platform = Platform.IOS) -> Fleet:
    fleet = Fleet(ManualClock(START), application_server_key=SERVER_KEY, fleet_id="f1")
    fleet.add_listener(reporter.on_fleet_event)
    fleet.create(n, mix={platform: 1.0}, seed=1)
    return fleet


def deliver(fleet: Fleet, device_id: int, delivery: int, message_id: str | None = None) -> None:
    device = fleet.device(device_id)
    note = RenderedNotification(title="Hi", buttons=(Button("buy", "Buy"),))
    fleet.accept(InboundPush(device.provider, device.address, message_id or f"m{delivery}",
                             PushKind.NOTIFICATION, START, note,
                             {"herald": {"delivery_id": delivery, "campaign_id": "42"}}, expires_at=START))


@pytest.mark.asyncio
async def test_lifecycle_steps_are_reported_as_sdk_events_in_batches_of_500() -> None:
    server = IngestServer()
    reporter = reporter_for(server)
    fleet = campaign_fleet(reporter, n=300)
    for device in fleet.devices():
        deliver(fleet, device.id, 10_000 + device.id)
    fleet.click(1, button="buy")
    await reporter.flush()
    await reporter.stop()
    assert [len(b) for b in server.batches] == [500, 101]
    assert len(server.rows) == 601 and reporter.stats.accepted == 601
    clicked = server.rows["f1-1-10001-clicked"]
    assert clicked["name"] == "push_clicked" and clicked["user"] == fleet.device(1).user
    assert clicked["properties"] == {"delivery_id": 10001, "campaign_id": 42, "platform": "ios", "button": "buy"}
    assert clicked["at"] == "2026-03-02T12:00:00.000Z" and clicked["revenue"] is None
    assert {e["name"] for e in server.rows.values()} == {"push_delivered", "push_displayed", "push_clicked"}


@pytest.mark.asyncio
async def test_devices_register_with_token_or_subscription() -> None:
    server = IngestServer()
    reporter = reporter_for(server)
    fleet = campaign_fleet(reporter, n=1, platform=Platform.ANDROID)
    web = fleet.create(1, mix={Platform.WEB: 1.0}, seed=2)[0]
    await reporter.flush()
    android_body, web_body = server.devices
    android = fleet.device(1)
    assert android_body == {"user": android.user, "platform": "android", "provider": "fcm",
                            "token": android.token, "app_version": android.app_version,
                            "locale": android.locale, "timezone": android.timezone, "push_enabled": True}
    assert web.subscription is not None
    keys = web.subscription.keys
    assert web_body["subscription"] == {
        "endpoint": f"http://sim.test:9000/push/{web.address}",
        "keys": {"p256dh": base64.urlsafe_b64encode(keys.public_key).rstrip(b"=").decode(),
                 "auth": base64.urlsafe_b64encode(keys.auth_secret).rstrip(b"=").decode()},
    }
    fleet.reinstall(1)
    await reporter.flush()
    await reporter.stop()
    assert server.devices[-1]["token"] == android.token != android_body["token"]
    assert any(e["name"] == "app_installed" for e in server.rows.values())


@pytest.mark.asyncio
@pytest.mark.parametrize("failure", ["503", "429", "connection"])
async def test_failed_batches_are_retried_and_never_make_second_rows(failure: str) -> None:
    server = IngestServer()
    flaky = FlakyTransport(httpx.ASGITransport(app=server.app), 0)
    reporter = SdkReporter("http://herald.test", KEY, fleet_id="f1", base_backoff=0.001, max_backoff=0.01,
                           transport=flaky)

    def fail_next(times: int) -> None:
        if failure == "connection":
            flaky.failures = times
        else:
            server.fail_first, server.fail_status = times, int(failure)

    fleet = campaign_fleet(reporter, n=5)
    fail_next(2)
    await reporter.flush()
    assert len(server.devices) == 5 and reporter.stats.retries >= 1
    retries = reporter.stats.retries
    for device in fleet.devices():
        deliver(fleet, device.id, device.id)
    fail_next(3)
    await reporter.flush()
    assert reporter.stats.retries == retries + 3
    assert len(server.rows) == 10 and [len(b) for b in server.batches] == [10]
    fleet.device(1).seen = None
    deliver(fleet, 1, 1, message_id="resent-after-a-crash")
    await reporter.flush()
    await reporter.stop()
    assert len(server.rows) == 10 and reporter.stats.duplicates == 2


@pytest.mark.asyncio
async def test_rejected_events_and_refused_batches_are_counted_not_retried() -> None:
    server = IngestServer()
    reporter = reporter_for(server)
    fleet = campaign_fleet(reporter, n=1)
    device = fleet.device(1)
    reporter.on_fleet_event(FleetEvent(1, START, 1, Platform.IOS, "delivered", "m", 7, "1"), device)
    reporter._events.append({"id": "x", "user": "u", "name": "bad", "at": "2026-03-02T12:00:00Z",
                             "properties": {}, "revenue": None})
    await reporter.flush()
    assert (reporter.stats.accepted, reporter.stats.rejected) == (1, 1)
    assert reporter.stats.rejections == [{"id": "x", "error": "name: unknown"}]
    server.fail_first, server.fail_status = 1, 400
    deliver(fleet, 1, 8)
    await reporter.flush()
    await reporter.stop()
    assert reporter.stats.rejected == 3 and reporter.stats.retries == 0


@pytest.mark.asyncio
async def test_the_buffer_is_bounded() -> None:
    server = IngestServer()
    reporter = reporter_for(server, max_buffer=10)
    fleet = campaign_fleet(reporter, n=1)
    for delivery in range(15):
        deliver(fleet, 1, delivery)
    assert reporter.stats.dropped == 20
    await reporter.flush()
    await reporter.stop()
    assert len(server.rows) == 10


@pytest.mark.asyncio
async def test_the_background_task_sends_conversions_and_flushes_on_stop() -> None:
    server = IngestServer()
    reporter = reporter_for(server, flush_interval=0.01)
    clock = ManualClock(START)
    fleet = Fleet(clock, BehaviourModel(3, time_scale=0.01), fleet_id="f1")
    fleet.add_listener(reporter.on_fleet_event)
    await reporter.start()
    devices = fleet.create(400, mix={Platform.ANDROID: 1.0}, seed=5)
    note = RenderedNotification(title="20% off today", body="Only until midnight", deep_link="app://sale")
    for device in devices:
        fleet.accept(InboundPush(device.provider, device.address, f"m{device.id}", PushKind.NOTIFICATION,
                                 START, note, {"herald_delivery_id": str(device.id), "herald_campaign_id": "9"},
                                 expires_at=START))
    clock.advance(3600)
    fleet.run_due()
    await reporter.stop()
    purchases = [e for e in server.rows.values() if e["name"] == "purchase"]
    assert purchases and all(e["revenue"] > 0 and e["properties"]["campaign_id"] == 9 for e in purchases)
    opt_changes = [e for e in server.rows.values() if e["name"] in ("push_opt_out", "push_opt_in")]
    assert len(server.devices) == 400 + len(opt_changes)
    assert all(body["push_enabled"] is False for body in server.devices[400:])
    assert reporter.pending == 0 and len(server.rows) == reporter.stats.queued


@pytest.mark.asyncio
async def test_register_all_registers_every_installed_device_again() -> None:
    server = IngestServer()
    reporter = reporter_for(server)
    fleet = campaign_fleet(reporter, n=4)
    await reporter.flush()
    fleet.uninstall(2)
    assert reporter.register_all(fleet.devices()) == 3
    await reporter.flush()
    await reporter.stop()
    assert len(server.devices) == 7
