"""Render every screen offscreen at 1440×900 in light and dark, for docs/screenshots and for review.

    QT_QPA_PLATFORM=offscreen python -m console.screenshots [--out docs/screenshots] [--users 300]

It builds a throwaway demo workspace (the first-run path: ``build_demo`` with the simulator in-process),
sends one campaign to the simulator and waits for its devices to react, adds a draft and a cancelled
campaign, then photographs each screen — the campaign list, the live dashboard, Compose with a push,
the Simulator, Settings — as a user would see them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from console.app import ConsoleController
from console.bridge import EngineHost
from console.main_window import PAGES
from console.session import ConsoleSession, SessionOptions
from console.theme import apply_theme, current_theme
from core.campaigns.definition import Audience, CampaignDefinition
from core.composer.content import PushContent


def pump(app: QApplication, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """Run the event loop for ``seconds`` (or until ``until()``)."""
    loop = QEventLoop()
    end = time.monotonic() + seconds
    timer = QTimer(interval=50)
    timer.timeout.connect(lambda: loop.quit() if time.monotonic() > end or (until and until()) else None)
    timer.start()
    loop.exec()
    timer.stop()


def prepare(home: Path, users: int) -> None:
    """A demo workspace with a sent, a cancelled and a draft campaign (engine-side, no window)."""
    host = EngineHost()
    session = ConsoleSession(SessionOptions(db_url=f"sqlite:///{home / 'workspace.db'}",
                                            simulator_state=home / "simulator", demo_users=users, time_scale=0.01))
    try:
        host.submit(session.needs_demo).result(60)
        host.submit(lambda: asyncio.to_thread(session.build_demo)).result(600)
        host.submit(session.start).result(120)
        sale = CampaignDefinition("Spring sale: 20% off", PushContent(
            title="Spring sale: 20% off", body="Only this weekend, on everything in the app.",
            deep_link="https://shop.example/sale"), Audience(all_devices=True))
        first = host.submit(lambda: session.create_campaign(sale)).result(30)
        host.submit(lambda: session.send(first, Audience(all_devices=True), True)).result(60)
        welcome = CampaignDefinition("Welcome back", PushContent(title="We missed you", body="Here is 10% off."),
                                     Audience(external_ids=("u-000001", "u-000002")))
        second = host.submit(lambda: session.create_campaign(welcome)).result(30)
        host.submit(lambda: session.send(second, Audience(all_devices=True))).result(60)
        host.submit(lambda: session.cancel(second)).result(30)
        host.submit(lambda: session.create_campaign(CampaignDefinition(
            "Weekly digest", PushContent(title="Your week on Herald", body="Five stories picked for you."),
            Audience(all_devices=True)))).result(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            figures = host.submit(lambda: session.figures(first)).result(30)
            if figures.pending == 0 and figures.clicked >= 5 and figures.converted >= 1:
                break
            time.sleep(1)
    finally:
        host.submit(session.close).result(120)
        host.shutdown()


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="herald-screens-") as tmp:
        home = Path(tmp)
        os.environ["HERALD_HOME"] = str(home)
        os.environ.setdefault("HERALD_KEYRING", "off")
        prepare(home, args.users)
        for dark in (False, True):
            theme = current_theme(dark)
            apply_theme(app, theme)
            host = EngineHost()
            session = ConsoleSession(SessionOptions(db_url=f"sqlite:///{home / 'workspace.db'}",
                                                    simulator_state=home / "simulator", time_scale=0.01))
            settings = QSettings(str(home / "screens.ini"), QSettings.Format.IniFormat)
            controller = ConsoleController(app, host, session, theme, settings)
            window = controller.window
            window.resize(1440, 900)
            window.show()
            controller.start()
            pump(app, 120, lambda c=controller: c.started)
            suffix = "dark" if dark else "light"
            try:
                for key, _label in PAGES:
                    window.rail.select(key)
                    if key == "compose" and controller.compose is not None:
                        form = getattr(controller.compose, "form", None)
                        if form is not None:
                            form.title.setText("Spring sale: 20% off, {{ first_name | default: 'friend' }}")
                            form.body.setPlainText("Only this weekend: 20% off everything in the app.")
                    pump(app, 2.5 if key in ("simulator", "overview", "campaigns") else 1.2)
                    window.grab().save(str(args.out / f"{key}-{suffix}.png"))
                    if key == "campaigns":
                        rows = controller.campaigns.list.model.rows()
                        sent = max((r for r in rows if r.sent), key=lambda r: r.clicked, default=None)
                        if sent is not None:
                            controller.campaigns.open_campaign(sent.id)
                            pump(app, 3.0)
                            window.grab().save(str(args.out / f"dashboard-{suffix}.png"))
                            controller.campaigns.show_list()
                            controller.campaigns.list.select(sent.id)
                            controller.campaigns.start_send(next(r.id for r in rows if r.state.value == "draft"))
                            screen = controller.campaigns
                            pump(app, 1.5, lambda s=screen: s.send_dialog is not None and s.send_dialog.reach is not None)  # noqa: E501
                            dialog = controller.campaigns.send_dialog
                            if dialog is not None:
                                dialog.review()
                                pump(app, 0.5)
                                dialog.grab().save(str(args.out / f"send-confirm-{suffix}.png"))
                                dialog.reject()
            finally:
                window.close()
                controller.close()
                host.submit(session.close).result(120)
                host.shutdown()


if __name__ == "__main__":
    main()
