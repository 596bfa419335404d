"""Starting the console: the application, the theme, the engine session, first run, and the window.

``ConsoleController`` wires one ``ConsoleSession`` (engine thread) to one ``MainWindow`` (GUI thread):
it runs the first-run demo with a cancellable progress dialog, starts the engine, keeps the status bar
current (engine, simulator and fleet, active profile, live sending rate) and routes the screens' requests
(New campaign → Compose → create → send flow → dashboard).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from console.bridge import EngineHost, EventBridge, Host, readable
from console.campaigns.page import CampaignsScreen
from console.main_window import MainWindow
from console.overview.page import OverviewPage
from console.session import ConsoleSession, DemoCancelled, SessionOptions, SessionStatus
from console.settings.page import SettingsPage
from console.theme import Theme, apply_theme, current_theme
from core.campaigns.definition import Audience, CampaignDefinition
from core.composer.content import PushContent
from core.config import resolve_db_url, simulator_state_dir
from core.domain import CampaignState
from core.persistence import Database
from core.providers.profiles import ProfileKind
from core.sending.progress import CampaignStateChanged, ProviderProgress, SendProblem

DEMO_STAGES = {"devices": "Creating virtual devices", "users": "Importing users",
               "registrations": "Registering devices with Herald", "history": "Backfilling 90 days of history"}
_STAGE_ORDER = list(DEMO_STAGES)


class DemoSignals(QObject):
    """Carries the demo's progress from its worker thread to the GUI thread.

    Signals:
        progress(str, int, int): stage, done, total.
    """

    progress = Signal(str, int, int)


class _SessionPersonalisation:
    """Compose's ``PersonalisationSource`` over the session's workspace (opened lazily on the engine thread)."""

    def __init__(self, session: ConsoleSession) -> None:
        self._session = session
        self._inner: Any = None

    def _source(self) -> Any:
        if self._inner is None:
            from console.compose.personalisation import WorkspacePersonalisation

            db: Database = self._session._db()
            self._inner = WorkspacePersonalisation(db)
        return self._inner

    def recipients(self, limit: int = 200) -> Any:
        return self._source().recipients(limit)

    def render(self, content: PushContent, device_id: int) -> PushContent:
        return self._source().render(content, device_id)  # type: ignore[no-any-return]


@dataclass
class RateMeter:
    """Messages per second over the last few seconds of ``ProviderProgress`` events."""

    window_s: float = 3.0

    def __post_init__(self) -> None:
        self._events: list[tuple[float, int]] = []

    def add(self, sent: int, at: float | None = None) -> None:
        """Record ``sent`` messages reported now."""
        self._events.append((time.monotonic() if at is None else at, sent))

    def rate(self, now: float | None = None) -> float:
        """Messages per second in the window (0 when nothing was reported)."""
        now = time.monotonic() if now is None else now
        self._events = [(t, n) for t, n in self._events if now - t <= self.window_s]
        return sum(n for _, n in self._events) / self.window_s if self._events else 0.0


class ConsoleController(QObject):
    """One window over one engine session."""

    def __init__(self, app: QApplication, host: Host, session: ConsoleSession, theme: Theme,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.app = app
        self.host = host
        self.session = session
        self.theme = theme
        self.status: SessionStatus | None = None
        self.bridge = EventBridge(session.bus)
        self.overview = OverviewPage(host, session.summary, theme)
        self.campaigns = CampaignsScreen(host, session, theme, profile=self._profile)
        self.settings_page = SettingsPage(host, session, theme)
        pages: dict[str, QWidget] = {"campaigns": self.campaigns, "settings": self.settings_page}
        self.compose = self._compose_page()
        if self.compose is not None:
            pages["compose"] = self.compose
        self.simulator_page = self._simulator_page()
        if self.simulator_page is not None:
            pages["simulator"] = self.simulator_page
        self.window = MainWindow(theme, self.overview, settings, pages)
        self.window.new_campaign_requested.connect(self.new_campaign)
        self.campaigns.new_requested.connect(self.new_campaign)
        self.settings_page.profile_changed.connect(self.show_status)
        # The Simulator screen connects when first opened, so a console that never shows it opens no socket.
        self.window.rail.page_selected.connect(lambda key: self._attach_simulator() if key == "simulator" and
                                               self.started else None)
        self.rate = RateMeter()
        self.bridge.progress.connect(self._on_progress)
        self.bridge.campaign_state.connect(self._on_campaign_state)
        self.bridge.problem.connect(self._on_problem)
        self.bridge.lane_stopped.connect(lambda e: self.window.statusBar().showMessage(
            f"{e.provider.value.upper()} stopped: {getattr(e, 'detail', 'resumed')}", 15_000))
        self.rate_timer = QTimer(self, interval=1000)
        self.rate_timer.timeout.connect(self._show_rate)
        self.rate_timer.start()
        self.demo_dialog: QProgressDialog | None = None
        self._demo_cancel = threading.Event()
        self.started = False

    def _compose_page(self) -> QWidget | None:
        try:
            from console.compose.page import ComposePage
        except ImportError:
            return None
        page = ComposePage(self.host, _SessionPersonalisation(self.session), self.theme)
        page.send_requested.connect(self.send_composed)
        return page

    def _simulator_page(self) -> Any:
        try:
            from console.simulator.page import SimulatorPage
        except ImportError:
            return None
        return SimulatorPage(self.host, None, self.theme)

    def _attach_simulator(self) -> None:
        """Point the Simulator screen at the running simulator's control API."""
        if self.simulator_page is None:
            return
        from console.simulator.client import ControlClient

        url = self.session.control_url()
        if url is not None and getattr(self.simulator_page, "client", None) is None:
            self.simulator_page.set_client(ControlClient(url))

    def _profile(self) -> tuple[str | None, ProfileKind | None]:
        return (self.status.profile, self.status.profile_kind) if self.status else (None, None)

    # ---------------------------------------------------------------------------------------- start

    def start(self) -> None:
        """Open the workspace; on first run build the demo (with progress), then start the engine."""
        self.window.engine_status.setText("Engine: opening the workspace…")
        self.host.submit(self.session.needs_demo, self._opened, self._failed_to_open)

    def _opened(self, needs_demo: bool) -> None:
        self.window.workspace_status.setText(f"Workspace: {self.session.options.db_url.split('///')[-1]}")
        if needs_demo:
            self.run_demo()
        else:
            self.start_engine()

    def _failed_to_open(self, error: BaseException) -> None:
        self.window.engine_status.setText("Engine: stopped")
        self.window.statusBar().showMessage(f"The workspace could not be opened: {readable(error)}")
        self.overview.show_error(error)

    def run_demo(self) -> None:
        """Create the demo workspace in a worker thread, with a cancellable progress dialog."""
        dialog = QProgressDialog("Preparing the demo workspace…", "Cancel", 0, 1000, self.window)
        dialog.setWindowTitle("Welcome to Herald")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setMinimumWidth(460)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(self._cancel_demo)
        self.demo_dialog = dialog
        signals = DemoSignals(self)
        signals.progress.connect(self._demo_progress)
        self._demo_cancel.clear()
        cancel = self._demo_cancel
        dialog.show()

        async def build() -> object:
            return await asyncio.to_thread(self.session.build_demo, signals.progress.emit, cancel)

        self.window.engine_status.setText("Engine: creating the demo workspace…")
        self.host.submit(build, self._demo_done, self._demo_failed)

    def _demo_progress(self, stage: str, done: int, total: int) -> None:
        if self.demo_dialog is None:
            return
        index = _STAGE_ORDER.index(stage) if stage in _STAGE_ORDER else 0
        share = done / total if total else 1.0
        self.demo_dialog.setValue(int((index + share) / len(_STAGE_ORDER) * 1000))
        self.demo_dialog.setLabelText(f"First run: creating the demo workspace on the simulator.\n"
                                      f"{DEMO_STAGES.get(stage, stage)} ({done:,} of {total:,})")

    def _cancel_demo(self) -> None:
        self._demo_cancel.set()
        if self.demo_dialog is not None:
            self.demo_dialog.setLabelText("Cancelling after the current step…")

    def _close_demo_dialog(self) -> None:
        if self.demo_dialog is not None:
            self.demo_dialog.reset()
            self.demo_dialog.hide()
            self.demo_dialog.deleteLater()
            self.demo_dialog = None

    def _demo_done(self, result: Any) -> None:
        self._close_demo_dialog()
        self.window.statusBar().showMessage(
            f"Demo workspace ready: {result.users:,} users with {result.devices:,} devices on the simulator.", 15_000)
        self.start_engine()

    def _demo_failed(self, error: BaseException) -> None:
        self._close_demo_dialog()
        if isinstance(error, DemoCancelled):
            self.window.statusBar().showMessage("Demo workspace cancelled: the workspace keeps what was created so "
                                                "far. Import users or run herald demo to fill it.", 20_000)
        else:
            self.window.statusBar().showMessage(f"The demo workspace could not be created: {readable(error)}")
        self.start_engine()

    def start_engine(self) -> None:
        """Start the simulator, the active profile and the sending engine."""
        self.window.engine_status.setText("Engine: starting the simulator…")

        def started(status: SessionStatus) -> None:
            self.started = True
            self.show_status(status)
            if self.window.current_page() == "simulator":
                self._attach_simulator()
            self.overview.refresh()
            self.campaigns.list.refresh()
            self.settings_page.refresh()

        self.host.submit(self.session.start, started, lambda e: (
            self.window.engine_status.setText("Engine: stopped"),
            self.window.statusBar().showMessage(f"The engine did not start: {readable(e)}")))

    # --------------------------------------------------------------------------------------- status

    def show_status(self, status: SessionStatus) -> None:
        """Update the status bar and settings from the session's state."""
        self.status = status
        w = self.window
        w.engine_status.setText(f"Engine: {status.engine}")
        w.workspace_status.setText(f"Workspace: {status.workspace}")
        fleet = f" · {status.fleet:,} devices" if status.fleet else ""
        w.simulator_status.setText(f"Simulator: {status.simulator}{fleet}")
        w.set_profile(status.profile, status.profile_kind is ProfileKind.SIMULATOR)
        self.settings_page.show_status(status)
        if status.problem:
            w.statusBar().showMessage(status.problem, 30_000)

    def _on_progress(self, event: ProviderProgress) -> None:
        self.rate.add(event.sent)
        self.campaigns.dashboard.on_progress(event)
        self._show_rate()

    def _show_rate(self) -> None:
        rate = self.rate.rate()
        self.window.rate_status.setText(f"Sending {rate:,.0f} msg/s" if rate else "Idle")

    def _on_campaign_state(self, event: CampaignStateChanged) -> None:
        self.campaigns.dashboard.on_campaign_state(event)
        if self.campaigns.list.isVisible():
            self.campaigns.list.refresh()
        if event.state in (CampaignState.COMPLETED, CampaignState.CANCELLED):
            self.window.statusBar().showMessage(f"Campaign {event.campaign_id} {event.state.value}.", 10_000)

    def _on_problem(self, event: SendProblem) -> None:
        where = f"{event.provider.value.upper()}: " if event.provider else ""
        self.window.statusBar().showMessage(f"{where}{event.detail}", 15_000)

    # ------------------------------------------------------------------------------------ campaigns

    def new_campaign(self) -> None:
        """Ctrl+N / New campaign: the Compose screen."""
        if self.compose is not None:
            self.window.rail.select("compose")

    def send_composed(self, content: PushContent) -> None:
        """Compose's Send…: store the push as a draft campaign (named after its title), then the send flow."""
        name = (content.title or content.body or "Untitled push").strip().splitlines()[0][:80]
        definition = CampaignDefinition(name, content, Audience(all_devices=True))

        def created(campaign_id: int) -> None:
            self.window.rail.select("campaigns")
            self.campaigns.show_list()
            self.campaigns.start_send(campaign_id)

        self.host.submit(lambda: self.session.create_campaign(definition), created,
                         lambda e: self.window.statusBar().showMessage(f"Not saved: {readable(e)}", 15_000))

    def close(self) -> None:
        """Stop following events."""
        self.bridge.close()
        self.rate_timer.stop()
        self.campaigns.dashboard.timer.stop()
        self.campaigns.list.timer.stop()
        if self.simulator_page is not None:
            self.simulator_page.shutdown()


def default_options(db_url: str | None = None) -> SessionOptions:
    """The console's session options: the chosen workspace and the user data folder's simulator."""
    return SessionOptions(db_url=resolve_db_url(db_url), simulator_state=Path(simulator_state_dir()))


def run_console(db_url: str | None = None) -> int:
    """Open the console on the workspace at ``db_url`` (default: the embedded one); returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Herald")
    app.setOrganizationName("Herald")
    theme = current_theme()
    apply_theme(app, theme)
    host = EngineHost()
    session = ConsoleSession(default_options(db_url))
    controller = ConsoleController(app, host, session, theme)
    controller.window.show()
    controller.start()
    try:
        return app.exec()
    finally:
        controller.close()
        host.submit(session.close).result(timeout=120)
        host.shutdown()
