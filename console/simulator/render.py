"""Screenshots of the simulator panel with a live fleet (``console.screenshots`` calls ``render_simulator``).

``render_simulator`` starts an in-process simulator in a temporary directory (a few dozen devices, no Herald
reporting), puts demo notifications into some trays, shows the page on a real EngineHost until the tiles
and the chart are filled, grabs it, and stops everything it started. ``demo_notifications`` is the traffic:
pushes handed straight to the in-process fleet (screenshots only; tests send through the real protocols).
"""

from __future__ import annotations

import itertools
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QApplication

from console.bridge import EngineHost
from console.simulator.client import ControlClient
from console.simulator.page import SimulatorPage
from console.theme import Theme, apply_theme
from core.domain import Platform
from simulator.inbound import Button, InboundPush, PushKind, RenderedNotification
from simulator.runtime import RuntimeOptions, RuntimeThread

MESSAGES = (
    ("Spring sale: 20% off", "Your favourites are back in stock — free delivery over €40."),
    ("Your order has shipped", "Parcel HX-2291 arrives tomorrow between 9 and 11."),
    ("Back in stock: Trail runners", "Size 42 is available again. Grab them before they go."),
    ("Flash deal ends tonight", "Extra 15% off outdoor gear with code NIGHT15."),
    ("Price drop on your wishlist", "The Nordic rain jacket is now €89 (was €129)."),
)


def demo_notifications(thread: RuntimeThread, share: float = 0.6, per_device: int = 2) -> int:
    """Hand notifications to about ``share`` of the fleet's devices; returns how many were accepted."""
    fleet = thread.runtime.fleet
    if fleet is None:
        return 0
    now = datetime.now(UTC)
    accepted = 0
    texts = itertools.cycle(MESSAGES)
    for device in fleet.devices():
        if (device.id * 7919) % 100 >= share * 100:
            continue
        for _ in range((device.id % per_device) + 1):
            title, body = next(texts)
            note = RenderedNotification(title=title, body=body, buttons=(Button("b1", "Shop now"),),
                                        deep_link="https://shop.example/sale")
            push = InboundPush(device.provider, device.address, uuid.uuid4().hex, PushKind.NOTIFICATION, now,
                               note, expires_at=now + timedelta(hours=1))
            accepted += fleet.accept(push).status.value == "accepted"
    return accepted


def render_simulator(app: QApplication, theme: Theme, out: Path, size: QSize = QSize(1440, 900),
                     devices: int = 36) -> Path:
    """Render the simulator panel over a fresh in-process fleet to ``out`` (PNG) at ``size``."""
    apply_theme(app, theme)
    with tempfile.TemporaryDirectory(prefix="herald-shot-") as state:
        options = RuntimeOptions(devices=devices, seed=11, time_scale=0.15,
                                 mix={Platform.ANDROID: 0.45, Platform.IOS: 0.35, Platform.WEB: 0.2})
        thread = RuntimeThread(Path(state) / "sim", options)
        info = thread.start()
        host = EngineHost()
        client = ControlClient(info.control_url)
        page = SimulatorPage(host, client, theme)
        try:
            for _ in range(3):
                demo_notifications(thread)
                _pump(app, 0.7)
            fleet = thread.runtime.fleet
            if fleet is not None:
                fleet.set_online(5, False)
            page.resize(size)
            page.show()
            page.select_device(2)
            _pump(app, 2.5)
            page.grab().save(str(out))
        finally:
            page.shutdown()
            page.close()
            page.deleteLater()
            QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            host.shutdown()
            thread.stop()
    return out


def _pump(app: QApplication, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
