"""Render every screen offscreen at 1440×900 in light and dark, for docs/screenshots and for review.

    QT_QPA_PLATFORM=offscreen python -m console.screenshots [--out docs/screenshots] [--db URL]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from console.bridge import SyncEngineHost
from console.main_window import PAGES, MainWindow
from console.overview.page import OverviewPage
from console.theme import apply_theme, current_theme
from core.config import resolve_db_url
from core.persistence import open_database
from core.workspace import summarize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--db", default=None, help="workspace to show (default: the embedded one)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    db = open_database(resolve_db_url(args.db))
    settings = QSettings(str(args.out / ".screenshots.ini"), QSettings.Format.IniFormat)
    for dark in (False, True):
        theme = current_theme(dark)
        apply_theme(app, theme)
        host = SyncEngineHost()
        overview = OverviewPage(host, lambda: summarize(db), theme)
        window = MainWindow(theme, overview, settings)
        window.resize(1440, 900)
        window.engine_status.setText("Engine: running")
        window.workspace_status.setText(f"Workspace: {db.engine.url.render_as_string(hide_password=True)}")
        window.show()
        overview.refresh()
        for key, _label in PAGES:
            window.rail.select(key)
            app.processEvents()
            window.grab().save(str(args.out / f"{key}-{'dark' if dark else 'light'}.png"))
        window.close()
    (args.out / ".screenshots.ini").unlink(missing_ok=True)
    db.dispose()


if __name__ == "__main__":
    main()
