"""The console end to end, as a trainer meets it: first run on an empty data folder builds the demo
workspace, a push is written in Compose and sent to the simulator through the real providers, and the
live dashboard shows the deliveries and clicks the virtual devices report back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from console.app import ConsoleController
from console.bridge import EngineHost
from console.session import ConsoleSession, SessionOptions
from console.theme import LIGHT

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def test_first_run_compose_send_and_watch_the_dashboard(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HERALD_HOME", str(home))
    monkeypatch.setenv("HERALD_KEYRING", "off")
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    host = EngineHost()
    # Users react 200 times faster than people do (reaction delays × 0.005), so clicks arrive within seconds.
    session = ConsoleSession(SessionOptions(db_url=f"sqlite:///{home}/workspace.db",
                                            simulator_state=home / "simulator", demo_users=80, time_scale=0.005))
    controller = ConsoleController(app, host, session, LIGHT,
                                   QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat))
    window = controller.window
    qtbot.addWidget(window)
    window.show()
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.demo_dialog is not None, timeout=10_000)
        qtbot.waitUntil(lambda: controller.started, timeout=120_000)
        assert controller.status is not None and controller.status.profile == "simulator"

        # Ctrl+N: New campaign goes to Compose; write the push there.
        window.new_campaign_requested.emit()
        compose = controller.compose
        assert compose is not None and window.stack.currentWidget() is compose
        qtbot.keyClicks(compose.form.title, "Flash sale")
        qtbot.keyClicks(compose.form.body, "Everything 30% off until midnight.")
        qtbot.waitUntil(lambda: compose.send_button.isEnabled(), timeout=5_000)
        compose.send_button.click()

        # The send flow opens on the new campaign with its reach; confirm it.
        screen = controller.campaigns
        qtbot.waitUntil(lambda: screen.send_dialog is not None and screen.send_dialog.reach is not None,
                        timeout=10_000)
        dialog = screen.send_dialog
        assert dialog is not None
        dialog.review()
        reach = dialog.reach
        assert reach is not None and reach.devices > 80
        assert dialog.question.text() == f"Send to {reach.devices:,} devices on the simulator profile?"
        dialog.send_button.click()

        # The live dashboard fills as the devices report.
        dashboard = screen.dashboard
        qtbot.waitUntil(lambda: screen.currentWidget() is dashboard, timeout=10_000)
        assert dashboard.title_label.text() in ("Flash sale", "Campaign")

        def delivered_and_clicked() -> bool:
            f = dashboard.figures
            return f is not None and f.delivered > 0 and f.clicked > 0

        qtbot.waitUntil(delivered_and_clicked, timeout=45_000)
        assert int(dashboard.cards["delivered"].value.text().replace(",", "")) > 0
        assert int(dashboard.cards["clicked"].value.text().replace(",", "")) > 0
        assert dashboard.title_label.text() == "Flash sale"
    finally:
        controller.close()
        host.submit(session.close).result(timeout=60)
        host.shutdown()
