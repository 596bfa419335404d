"""GUI stall during a large send: the console's engine thread against sending on the GUI thread.

A temporary workspace holds ``--devices`` simulator devices; the simulator runs as its own process (as in
production use, ``herald simulator``). A console window (offscreen) shows the live campaign dashboard and
the Simulator screen side by side, and a heartbeat ``QTimer`` ticks every ``--tick-ms``; the stall is how
late a tick comes (the gap between ticks minus the interval). Two runs, one campaign each, to every device:

* **herald** — the console's way: ``ConsoleSession`` on the ``EngineHost`` loop thread sends; the GUI only
  draws (the dashboard polls figures once a second and reacts to progress events).
* **baseline** — the naive way: the same ``SendEngine`` with the same providers run to completion from a
  GUI slot (``asyncio.run`` on the GUI thread), the dashboard open.

::

    python -m bench.gui_stall [--devices 20000] [--tick-ms 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from bench.fanout import create_fleet, register_devices, simulator_process
from bench.report import BenchReport, Comparison
from console.bridge import EngineHost, EventBridge
from console.campaigns.dashboard import DashboardPage
from console.session import ConsoleSession, SessionOptions
from console.theme import apply_theme, current_theme
from core.campaigns.definition import Audience, CampaignDefinition
from core.campaigns.figures import campaign_figures
from core.clock import SystemClock
from core.composer.content import PushContent
from core.domain import CampaignState
from core.events import EventBus
from core.persistence import Database, open_database
from core.providers.factory import build_providers
from core.providers.profiles import load_simulator_profile, provider_settings
from core.sending.engine import SendEngine

_T0 = time.perf_counter()


def log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON)."""
    print(f"[{time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


class Heartbeat:
    """A timer that should fire every ``interval_ms``; records how late each tick is."""

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.stalls: list[float] = []
        self._last = 0

    def start(self) -> None:
        """Start measuring."""
        self.stalls = []
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        if self._last:
            self.stalls.append(max(0.0, (now - self._last) / 1e6 - self.interval_ms))
        self._last = now

    def stop(self) -> float:
        """Stop; returns the longest stall in ms (including the one running when stopped)."""
        self._tick()
        self.timer.stop()
        return max(self.stalls, default=0.0)


def wait_until(app: QApplication, done: Callable[[], bool], timeout_s: float) -> None:
    """Run the GUI's event loop until ``done()`` (checked every 50 ms)."""
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(50)
    deadline = time.monotonic() + timeout_s
    check.timeout.connect(lambda: loop.quit() if done() or time.monotonic() > deadline else None)
    check.start()
    loop.exec()
    check.stop()
    if not done():
        raise RuntimeError(f"not done within {timeout_s:.0f} s")


def settle(app: QApplication, seconds: float = 1.5) -> None:
    """Let the window lay out and paint once before measuring (first paints are not the send's doing)."""
    end = time.monotonic() + seconds
    wait_until(app, lambda: time.monotonic() >= end, seconds + 1)


def new_campaign(db: Database, session: ConsoleSession | None, name: str) -> int:
    """A draft campaign to every device."""
    from core.campaigns.service import CampaignService

    definition = CampaignDefinition(name, PushContent(title="Flash sale", body="40% off everything until midnight",
                                                      deep_link="herald://sale"), Audience(all_devices=True))
    return CampaignService(db).create(definition, actor="bench")


def run(devices: int, tick_ms: int, with_simulator_panel: bool = False) -> BenchReport:
    """Both runs; returns the report."""
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    theme = current_theme(False)
    apply_theme(app, theme)
    with tempfile.TemporaryDirectory(prefix="herald-gui-stall-") as tmp:
        root = Path(tmp)
        state = root / "sim"
        log(f"creating a fleet of {devices:,} devices")
        fleet = create_fleet(state, devices, seed=7)
        with simulator_process(state, devices) as (profile, control_url):
            db_url = f"sqlite:///{root / 'workspace.db'}"
            db = open_database(db_url)
            register_devices(db, fleet, profile.webpush_base_url)
            log("devices registered; opening the console")
            host = EngineHost()
            session = ConsoleSession(SessionOptions(db_url=db_url, simulator_state=state, start_simulator=False))
            bridge = EventBridge(session.bus)
            window = QWidget()
            layout = QHBoxLayout(window)
            dashboard = DashboardPage(host, session, theme)
            layout.addWidget(dashboard, 1)
            simulator_page = _simulator_page(host, control_url, theme) if with_simulator_panel else None
            if simulator_page is not None:
                layout.addWidget(simulator_page, 1)
            bridge.progress.connect(dashboard.on_progress)
            bridge.campaign_state.connect(dashboard.on_campaign_state)
            window.resize(1440, 900)
            window.show()
            heartbeat = Heartbeat(tick_ms)
            try:
                host.submit(session.start).result(timeout=120)
                herald_id = new_campaign(db, session, "Stall: engine thread")
                dashboard.show_campaign(herald_id)
                settle(app)
                log("herald: sending on the engine thread")
                heartbeat.start()
                started = time.perf_counter()
                host.submit(lambda: session.send(herald_id, Audience(all_devices=True)))
                wait_until(app, lambda: campaign_figures(db, herald_id).state is CampaignState.COMPLETED, 600)
                herald_s = time.perf_counter() - started
                wait_until(app, lambda: dashboard.figures is not None and dashboard.figures.pending == 0, 10)
                herald_stall = heartbeat.stop()
                log(f"herald: {herald_s:.1f} s, longest stall {herald_stall:.1f} ms; "
                    f"{campaign_figures(db, herald_id)}")
            finally:
                if simulator_page is not None:
                    simulator_page.shutdown()
                bridge.close()
                dashboard.timer.stop()
                host.submit(session.close).result(timeout=120)
                host.shutdown()

            naive_id = new_campaign(db, None, "Stall: GUI thread")
            naive = SyncDashboardSession(db)
            dashboard_naive = DashboardPage(_NoHost(naive), naive, theme)
            dashboard_naive.resize(1440, 900)
            dashboard_naive.show()
            dashboard_naive.show_campaign(naive_id)
            settle(app)
            log("baseline: sending on the GUI thread")
            finished: list[float] = []

            def naive_send() -> None:
                begun = time.perf_counter()
                asyncio.run(_send_all(db, state, naive_id))
                finished.append(time.perf_counter() - begun)
                dashboard_naive.refresh()

            heartbeat.start()
            QTimer.singleShot(0, naive_send)
            wait_until(app, lambda: bool(finished), 900)
            naive_stall = heartbeat.stop()
            dashboard_naive.timer.stop()
            log(f"baseline: {finished[0]:.1f} s, longest stall {naive_stall:.1f} ms")
            db.dispose()
    report = BenchReport("gui_stall", {"devices": devices, "tick_ms": tick_ms,
                                       "simulator_panel": simulator_page is not None})
    report.comparisons.append(Comparison("stall", "ms", round(herald_stall, 1), round(naive_stall, 1),
                                         "same send run on the GUI thread", higher_is_better=False))
    report.figures.update(max_stall_ms=round(herald_stall, 1), baseline_max_stall_ms=round(naive_stall, 1),
                          send_seconds=round(herald_s, 2), baseline_send_seconds=round(finished[0], 2))
    return report


def _simulator_page(host: EngineHost, control_url: str, theme: object) -> QWidget | None:
    try:
        from console.simulator.client import ControlClient
        from console.simulator.page import SimulatorPage
    except ImportError:
        return None
    page: QWidget = SimulatorPage(host, ControlClient(control_url), theme)  # type: ignore[arg-type]
    return page


class SyncDashboardSession:
    """The dashboard's reads, run on the calling (GUI) thread: the naive console."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def figures(self, campaign_id: int) -> object:
        return campaign_figures(self.db, campaign_id)

    def timeline(self, campaign_id: int) -> object:
        from core.campaigns.figures import campaign_timeline

        return campaign_timeline(self.db, campaign_id)


class _NoHost:
    """Runs work on the GUI thread at once (the naive console has no engine thread)."""

    def __init__(self, session: SyncDashboardSession) -> None:
        self.session = session

    def submit(self, work: Callable[[], object], on_done: Callable[[object], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> None:
        try:
            result = work()
        except Exception as exc:
            if on_error is not None:
                on_error(exc)
            return
        if on_done is not None:
            on_done(result)


async def _send_all(db: Database, state: Path, campaign_id: int) -> None:
    """The same engine and providers, driven to the end on the current (GUI) thread."""
    clock = SystemClock()
    with provider_settings(load_simulator_profile(state)) as settings:
        providers = build_providers(settings, clock)
        engine = SendEngine(db, providers, clock, EventBus())
        try:
            await engine.start_campaign(campaign_id)
            await engine.run_until_idle()
        finally:
            await engine.aclose()
            for provider in providers.values():
                await provider.aclose()


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--tick-ms", type=int, default=10)
    parser.add_argument("--simulator-panel", action="store_true",
                        help="Also show the Simulator screen (currently crashes the process under load: see "
                             "docs/benchmarks.md)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    run(args.devices, args.tick_ms, args.simulator_panel).emit(args.json)


if __name__ == "__main__":
    main()
