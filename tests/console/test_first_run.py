"""First run on an empty data folder: the demo workspace is built with progress, the simulator starts and
the simulator profile is selected; the next start reopens it without building it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from console.app import ConsoleController
from console.bridge import EngineHost
from console.overview.page import OverviewPage
from console.session import ConsoleSession, SessionOptions
from console.theme import LIGHT

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HERALD_KEYRING", "off")
    return tmp_path / "home"


class Running:
    """A console on a real engine thread; ``stop()`` joins every thread it started."""

    def __init__(self, qtbot: QtBot, home: Path) -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self.host = EngineHost()
        self.session = ConsoleSession(SessionOptions(db_url=f"sqlite:///{home}/workspace.db",
                                                     simulator_state=home / "simulator", demo_users=12))
        settings = QSettings(str(home / "console.ini"), QSettings.Format.IniFormat)
        self.controller = ConsoleController(app, self.host, self.session, LIGHT, settings)
        qtbot.addWidget(self.controller.window)
        self.controller.window.show()

    def stop(self) -> None:
        self.controller.close()
        self.host.submit(self.session.close).result(timeout=60)
        self.host.shutdown()


@pytest.fixture
def console(qtbot: QtBot, home: Path) -> Iterator[Running]:
    running = Running(qtbot, home)
    try:
        yield running
    finally:
        running.stop()


def test_first_run_builds_the_demo_with_progress_and_starts_the_simulator(
    qtbot: QtBot, console: Running, home: Path
) -> None:
    c = console.controller
    labels: list[str] = []
    c.start()
    qtbot.waitUntil(lambda: c.demo_dialog is not None, timeout=10_000)
    dialog = c.demo_dialog
    assert dialog is not None and dialog.windowTitle() == "Welcome to Herald"

    def progressed() -> bool:
        if c.demo_dialog is not None:
            labels.append(c.demo_dialog.labelText())
        return c.started

    qtbot.waitUntil(progressed, timeout=120_000)
    assert any("Registering devices with Herald" in text or "Backfilling" in text for text in labels)
    assert c.demo_dialog is None
    status = c.status
    assert status is not None and status.profile == "simulator" and status.simulator == "running"
    assert status.fleet >= 12
    assert c.window.simulator_status.text().startswith("Simulator: running ·")
    assert c.window.profile_badge.text() == "SIMULATOR" and c.window.profile_badge.isVisible()
    overview = c.window.pages["overview"]
    assert isinstance(overview, OverviewPage)
    qtbot.waitUntil(lambda: overview.cards["users"].value.text() == "12", timeout=10_000)
    assert (home / "simulator" / "herald-demo.json").exists()


def test_a_later_run_reopens_the_workspace_without_building_it_again(qtbot: QtBot, home: Path) -> None:
    first = Running(qtbot, home)
    try:
        first.controller.start()
        qtbot.waitUntil(lambda: first.controller.started, timeout=120_000)
    finally:
        first.stop()
    again = Running(qtbot, home)
    try:
        again.controller.start()
        qtbot.waitUntil(lambda: again.controller.started, timeout=60_000)
        assert again.controller.demo_dialog is None
        assert again.controller.status is not None and again.controller.status.simulator == "running"
    finally:
        again.stop()
