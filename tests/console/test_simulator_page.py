"""The simulator panel against a real in-process simulator: tiles show the fleet, a push sent over APNs
(HTTP/2, the real protocol) fills a tray, a click in the detail pane empties it and lands in the event log,
and the fault controls PUT their settings to the service."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from pytestqt.qtbot import QtBot

from console.bridge import EngineHost
from console.simulator.client import ControlClient
from console.simulator.page import SimulatorPage
from console.theme import LIGHT
from core.domain import Platform
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[RuntimeThread, RuntimeInfo]]:
    # time_scale 1000: the simulated users take hours to react, so only the test clicks.
    options = RuntimeOptions(devices=9, seed=3, time_scale=1000.0,
                             mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1})
    thread = RuntimeThread(tmp_path / "sim", options)
    info = thread.start()
    yield thread, info
    thread.stop()


@pytest.fixture
def page(qtbot: QtBot, simulator: tuple[RuntimeThread, RuntimeInfo]) -> Iterator[SimulatorPage]:
    host = EngineHost()
    shown = SimulatorPage(host, ControlClient(simulator[1].control_url), LIGHT)
    qtbot.addWidget(shown)
    shown.resize(1240, 860)
    shown.show()
    yield shown
    shown.shutdown()
    host.shutdown()


def send_apns(info: RuntimeInfo, token: str, title: str, body: str) -> None:
    profile = info.profile
    provider_token = jwt.encode({"iss": profile.apns_team_id, "iat": int(time.time())},
                                Path(profile.apns_key_path).read_text(), algorithm="ES256",
                                headers={"kid": profile.apns_key_id})
    payload = {"aps": {"alert": {"title": title, "body": body}},
               "buttons": [{"id": "shop", "label": "Shop now", "link": "https://shop.example"}],
               "herald": {"delivery_id": 41, "campaign_id": 7, "type": "message"}}
    with httpx.Client(http1=False, http2=True, base_url=profile.apns_h2c_url) as client:
        response = client.post(f"/3/device/{token}", json=payload, headers={
            "authorization": f"bearer {provider_token}", "apns-topic": profile.apns_bundle_id,
            "apns-push-type": "alert", "apns-priority": "10", "apns-id": str(uuid.uuid4())})
    assert response.status_code == 200, response.text


def first_ios(page: SimulatorPage) -> dict[str, object]:
    return next(d for d in page.model.devices if d["platform"] == "ios")


def test_tiles_show_the_fleet(qtbot: QtBot, page: SimulatorPage) -> None:
    qtbot.waitUntil(lambda: page.model.rowCount() == 9, timeout=10_000)
    assert {d["platform"] for d in page.model.devices} == {"android", "ios", "web"}
    assert page.cards["devices"].value.text() == "9"
    assert "9 devices" in page.context_label.text()
    assert page.range_label.text() == "1–9 of 9"
    web = sum(d["platform"] == "web" for d in page.model.devices)
    assert 0 < web < 9
    page.platform.setCurrentIndex(page.platform.findData("web"))
    qtbot.waitUntil(lambda: page.model.rowCount() == web, timeout=10_000)
    assert all(d["platform"] == "web" for d in page.model.devices)
    assert page.range_label.text() == f"1–{web} of {web}"


def test_a_push_fills_the_tray_and_a_click_empties_it(
    qtbot: QtBot, page: SimulatorPage, simulator: tuple[RuntimeThread, RuntimeInfo]
) -> None:
    qtbot.waitUntil(lambda: page.model.rowCount() == 9, timeout=10_000)
    device = first_ios(page)
    device_id = int(device["id"])  # type: ignore[call-overload]
    assert device["tray_count"] == 0
    send_apns(simulator[1], str(device["address"]), "Back in stock", "Your size is back")
    page.refresh()
    qtbot.waitUntil(lambda: page.model.latest.get(device_id) is not None, timeout=10_000)
    row = page.model.row_of(device_id)
    assert page.model.devices[row]["tray_count"] == 1
    assert page.model.latest[device_id]["notification"]["title"] == "Back in stock"
    page.grid.setCurrentIndex(page.tile_index(device_id))
    qtbot.waitUntil(lambda: len(page.detail.cards) == 1, timeout=10_000)
    card = page.detail.cards[0]
    assert card.title.text() == "Back in stock" and [b.text() for b in card.buttons] == ["Shop now"]
    card.buttons[0].click()
    qtbot.waitUntil(lambda: not page.detail.cards and page.model.latest.get(device_id) is None, timeout=10_000)
    assert any("clicked" in line and "button shop" in line for line in page.detail.event_names())
    assert page.model.devices[page.model.row_of(device_id)]["tray_count"] == 0
    qtbot.waitUntil(lambda: page.cards["clicked"].value.text() == "1", timeout=10_000)


def test_taking_a_device_offline_from_the_detail_pane(qtbot: QtBot, page: SimulatorPage) -> None:
    qtbot.waitUntil(lambda: page.model.rowCount() == 9, timeout=10_000)
    device_id = int(page.model.devices[0]["id"])
    page.select_device(device_id)
    qtbot.waitUntil(lambda: page.detail.device is not None, timeout=10_000)
    assert page.detail.online_button.text() == "Go offline"
    page.detail.online_button.click()
    qtbot.waitUntil(lambda: page.model.devices[0]["online"] is False, timeout=10_000)
    assert page.detail.online_button.text() == "Go online"
    assert any("offline" in line for line in page.detail.event_names())


def test_fault_controls_put_the_settings(
    qtbot: QtBot, page: SimulatorPage, simulator: tuple[RuntimeThread, RuntimeInfo]
) -> None:
    faults = page.faults
    qtbot.waitUntil(lambda: "apns" in faults.settings, timeout=10_000)
    faults.service.setCurrentIndex(faults.service.findData("apns"))
    faults.rate_429.setValue(25)
    faults.retry_after.setValue(3)
    faults.latency.setValue(200)
    faults.apply.click()
    qtbot.waitUntil(lambda: faults.settings["apns"]["rate_429"] == 0.25, timeout=10_000)
    live = httpx.get(f"{simulator[1].control_url}/control/faults/apns").json()
    assert live["rate_429"] == 0.25 and live["retry_after_s"] == 3
    assert live["latency"] == {**live["latency"], "kind": "fixed", "seconds": 0.2}
    assert "25% 429 (Retry-After 3 s)" in faults.state.text()
    faults.clear.click()
    qtbot.waitUntil(lambda: faults.settings["apns"]["rate_429"] == 0, timeout=10_000)


def test_an_unreachable_simulator_is_explained(qtbot: QtBot) -> None:
    host = EngineHost()
    try:
        page = SimulatorPage(host, ControlClient("http://127.0.0.1:9"), LIGHT)
        qtbot.addWidget(page)
        qtbot.waitUntil(lambda: page.problem.text() != "", timeout=10_000)
        assert "did not answer" in page.problem.text() and "running" in page.problem.text()
        page.shutdown()
    finally:
        host.shutdown()


def test_without_a_simulator_the_page_says_how_to_start_one(qtbot: QtBot) -> None:
    host = EngineHost()
    try:
        page = SimulatorPage(host, None, LIGHT)
        qtbot.addWidget(page)
        assert page.stack.currentWidget() is page.not_running
        assert "python main.py simulator" in page.not_running.text.text()
    finally:
        host.shutdown()
