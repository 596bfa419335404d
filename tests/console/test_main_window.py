"""The console window as a user meets it: navigation, the overview's figures, remembered state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from console.bridge import EngineHost, SyncEngineHost
from console.main_window import PAGES, MainWindow
from console.overview.page import OverviewPage
from console.theme import LIGHT
from core.persistence import Database
from core.persistence.models import Device, User
from core.workspace import WorkspaceSummary, summarize

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_window(qtbot: QtBot, db: Database, tmp_path: Path, host: object | None = None) -> MainWindow:
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    overview = OverviewPage(host or SyncEngineHost(), lambda: summarize(db), LIGHT)  # type: ignore[arg-type]
    window = MainWindow(LIGHT, overview, settings)
    qtbot.addWidget(window)
    return window


def seed(db: Database) -> None:
    with db.transaction() as s:
        user = User(external_id="ana", attributes={}, first_seen=T0, last_seen=T0)
        s.add(user)
        s.flush()
        s.add_all(Device(user_id=user.id, platform=p, provider=v, token=f"t-{p}", registered_at=T0,
                         last_registered_at=T0) for p, v in [("android", "fcm"), ("ios", "apns")])


def test_an_empty_workspace_explains_the_next_step(qtbot: QtBot, sqlite_db: Database, tmp_path: Path) -> None:
    window = make_window(qtbot, sqlite_db, tmp_path)
    overview = window.pages["overview"]
    assert isinstance(overview, OverviewPage)
    overview.refresh()
    assert overview.stack.currentWidget() is overview.empty
    assert "herald import users" in overview.empty.text.text()


def test_the_overview_shows_the_workspace_figures(qtbot: QtBot, sqlite_db: Database, tmp_path: Path) -> None:
    seed(sqlite_db)
    window = make_window(qtbot, sqlite_db, tmp_path)
    overview = window.pages["overview"]
    assert isinstance(overview, OverviewPage)
    overview.refresh()
    assert overview.cards["users"].value.text() == "1"
    assert overview.cards["devices"].value.text() == "2"
    assert overview.cards["devices"].detail.text() == "android 1 · ios 1"
    assert "1 users · 2 devices" in overview.context_label.text()


def test_a_failing_workspace_says_what_to_do(qtbot: QtBot, sqlite_db: Database, tmp_path: Path) -> None:
    def broken() -> WorkspaceSummary:
        raise RuntimeError("database is locked")

    overview = OverviewPage(SyncEngineHost(), broken, LIGHT)
    qtbot.addWidget(overview)
    overview.refresh()
    assert overview.stack.currentWidget() is overview.error
    assert "database is locked" in overview.error.text() and "Refresh" in overview.error.text()


def test_the_real_engine_host_answers_on_the_gui_thread(
    qtbot: QtBot, sqlite_db: Database, tmp_path: Path
) -> None:
    seed(sqlite_db)
    host = EngineHost()
    try:
        window = make_window(qtbot, sqlite_db, tmp_path, host)
        overview = window.pages["overview"]
        assert isinstance(overview, OverviewPage)
        overview.refresh()
        qtbot.waitUntil(lambda: overview.cards["users"].value.text() == "1", timeout=10_000)
    finally:
        host.shutdown()


@pytest.mark.parametrize("key", [k for k, _ in PAGES])
def test_every_page_is_reachable_from_the_rail(
    qtbot: QtBot, sqlite_db: Database, tmp_path: Path, key: str
) -> None:
    window = make_window(qtbot, sqlite_db, tmp_path)
    window.rail.select(key)
    assert window.stack.currentWidget() is window.pages[key]


def test_the_window_remembers_its_last_page(qtbot: QtBot, sqlite_db: Database, tmp_path: Path) -> None:
    window = make_window(qtbot, sqlite_db, tmp_path)
    window.show()
    window.rail.select("reports")
    window.close()
    again = make_window(qtbot, sqlite_db, tmp_path)
    assert again.current_page() == "reports"
    assert again.stack.currentWidget() is again.pages["reports"]


def test_the_rail_collapses_on_narrow_windows(qtbot: QtBot, sqlite_db: Database, tmp_path: Path) -> None:
    window = make_window(qtbot, sqlite_db, tmp_path)
    window.show()
    window.resize(950, 700)
    qtbot.waitUntil(lambda: window.rail.width() == 64)
    assert window.rail.list.item(0).text() == ""
    window.resize(1440, 900)
    qtbot.waitUntil(lambda: window.rail.width() == 200)
