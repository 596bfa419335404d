"""Starting the console: the application, the theme, the engine host and the window."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from console.bridge import EngineHost
from console.main_window import MainWindow
from console.overview.page import OverviewPage
from console.theme import apply_theme, current_theme
from core.config import resolve_db_url
from core.persistence import Database, open_database
from core.workspace import WorkspaceSummary, summarize


class ConsoleSession:
    """The engine-side state of one console: the opened workspace (touched only on the engine thread)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.db: Database | None = None

    def summary(self) -> WorkspaceSummary:
        """Open (and migrate) the workspace on first use, then count what is in it."""
        if self.db is None:
            self.db = open_database(self.db_url)
        return summarize(self.db)

    def close(self) -> None:
        """Release the database."""
        if self.db is not None:
            self.db.dispose()


def build_window(app: QApplication, host: EngineHost, session: ConsoleSession) -> MainWindow:
    """The themed main window wired to ``host`` and ``session``."""
    theme = current_theme()
    apply_theme(app, theme)
    overview = OverviewPage(host, session.summary, theme)
    window = MainWindow(theme, overview)

    def on_summary(summary: WorkspaceSummary) -> None:
        window.workspace_status.setText(f"Workspace: {summary.location}")

    window.engine_status.setText("Engine: running")
    host.submit(session.summary, on_summary, lambda e: window.workspace_status.setText("Workspace: error"))
    overview.refresh()
    return window


def run_console(db_url: str | None = None) -> int:
    """Open the console on the workspace at ``db_url`` (default: the embedded one); returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Herald")
    app.setOrganizationName("Herald")
    host = EngineHost()
    session = ConsoleSession(resolve_db_url(db_url))
    window = build_window(app, host, session)
    window.show()
    try:
        return app.exec()
    finally:
        host.submit(session.close)
        host.shutdown()
