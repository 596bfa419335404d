"""The main window: navigation rail, one page at a time, and a status bar with the engine's state.

It remembers its size and the last page (QSettings) and collapses the rail on narrow windows.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QByteArray, QSettings, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QStackedWidget, QWidget

from console.theme import Theme
from console.widgets.empty_state import EmptyState
from console.widgets.nav_rail import NavRail
from console.widgets.page import Page

PAGES: list[tuple[str, str]] = [
    ("overview", "Overview"),
    ("campaigns", "Campaigns"),
    ("compose", "Compose"),
    ("audience", "Audience"),
    ("experiments", "Experiments"),
    ("reports", "Reports"),
    ("simulator", "Simulator"),
    ("settings", "Settings"),
]

#: What each screen will do, shown until it is built (the README's roadmap says the same).
COMING: dict[str, tuple[str, str]] = {
    "campaigns": ("Campaigns are on their way",
                  "Here you will list, send, pause and recall campaigns, with live delivery figures."),
    "compose": ("The composer is on its way",
                "Write one push with Liquid personalisation and see it on Android, iOS and web side by side."),
    "audience": ("The segment builder is on its way",
                 "Pick who gets a push with rules over attributes, behaviour, devices and location."),
    "experiments": ("A/B tests are on their way",
                    "Test variants on a small group and send the winner to everyone else."),
    "reports": ("Reports are on their way",
                "Delivery, clicks, conversions and revenue per platform and variant, with exports."),
    "simulator": ("The device simulator is on its way",
                  "Thousands of virtual Android, iOS and web devices behind the real push protocols."),
    "settings": ("Settings are on their way",
                 "Provider profiles and credentials, stored encrypted, with a connection test for each."),
}

NARROW_WIDTH = 1100


class MainWindow(QMainWindow):
    """Herald's one window.

    ``pages`` replaces the "on its way" placeholder of the screens that exist (keys of ``PAGES``).

    Signals:
        new_campaign_requested(): Ctrl+N anywhere in the window.
    """

    new_campaign_requested = Signal()

    def __init__(self, theme: Theme, overview: Page, settings: QSettings | None = None,
                 pages: Mapping[str, QWidget] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Herald")
        self.setMinimumSize(900, 600)
        self._settings = settings or QSettings("Herald", "Herald")
        self.rail = NavRail(PAGES, theme)
        self.stack = QStackedWidget()
        self.pages: dict[str, QWidget] = {"overview": overview}
        self.stack.addWidget(overview)
        for key, label in PAGES[1:]:
            if pages and key in pages:
                self.pages[key] = pages[key]
                self.stack.addWidget(pages[key])
                continue
            title, text = COMING[key]
            page = Page(label, "Not available in this version yet")
            page.body.addWidget(EmptyState(key, title, text, theme.text_muted), 1)
            self.pages[key] = page
            self.stack.addWidget(page)
        self.rail.page_selected.connect(self.show_page)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.rail)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.engine_status = QLabel("Engine: starting")
        self.workspace_status = QLabel("Workspace: opening…")
        self.simulator_status = QLabel("Simulator: not running")
        self.profile_status = QLabel("Profile: none")
        self.profile_badge = QLabel("", objectName="SimBadge")
        self.profile_badge.hide()
        self.rate_status = QLabel("Idle")
        self.rate_status.setToolTip("Messages sent per second, all providers")
        for label in (self.engine_status, self.workspace_status):
            self.statusBar().addWidget(label)
        for label in (self.simulator_status, self.profile_status, self.profile_badge, self.rate_status):
            self.statusBar().addPermanentWidget(label)
        new_campaign = QShortcut(QKeySequence("Ctrl+N"), self)
        new_campaign.activated.connect(self.new_campaign_requested.emit)
        for index, (key, _label) in enumerate(PAGES, start=1):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{index}"), self)
            shortcut.activated.connect(lambda k=key: self.rail.select(k))
        self._restore()

    def show_page(self, key: str) -> None:
        """Bring page ``key`` to the front."""
        self.stack.setCurrentWidget(self.pages[key])

    def set_profile(self, name: str | None, simulator: bool) -> None:
        """Show the active provider profile; the simulator one is marked, a production one warns."""
        self.profile_status.setText(f"Profile: {name}" if name else "Profile: none — choose one in Settings")
        self.profile_badge.setVisible(name is not None)
        self.profile_badge.setObjectName("SimBadge" if simulator else "ProdBadge")
        self.profile_badge.setText("SIMULATOR" if simulator else "PRODUCTION · REAL DEVICES")
        self.profile_badge.setToolTip("Campaigns reach only the simulator's virtual devices" if simulator
                                      else "Campaigns reach real phones and browsers")
        self.profile_badge.style().unpolish(self.profile_badge)
        self.profile_badge.style().polish(self.profile_badge)

    def current_page(self) -> str:
        """The key of the page in front."""
        return self.rail.current()

    def _restore(self) -> None:
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 900)
        last = self._settings.value("window/page", "overview")
        self.rail.select(last if last in self.pages else "overview")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Remember size and page for next time."""
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/page", self.current_page())
        super().closeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Collapse the rail to icons on narrow windows."""
        self.rail.set_collapsed(event.size().width() < NARROW_WIDTH)
        super().resizeEvent(event)
