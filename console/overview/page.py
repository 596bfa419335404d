"""Overview: the workspace's users, devices per platform, events and campaigns, and how SDKs connect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from console.theme import Theme
from console.widgets.empty_state import EmptyState
from console.widgets.page import Page
from console.widgets.stat_card import StatCard
from core.workspace import WorkspaceSummary


class Host(Protocol):
    """The part of EngineHost this page uses."""

    def submit(self, work: Callable[[], WorkspaceSummary], on_done: Callable[[WorkspaceSummary], None],
               on_error: Callable[[BaseException], None]) -> object: ...


class OverviewPage(Page):
    """Cards with the workspace's figures, or an empty state that says how to fill it."""

    def __init__(self, host: Host, load: Callable[[], WorkspaceSummary], theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__("Overview", "Opening the workspace…", parent)
        self._host = host
        self._load = load
        refresh = self.set_primary_action("Refresh", "Count again (F5)")
        refresh.clicked.connect(self.refresh)
        self.cards = {
            "users": StatCard("Users"),
            "devices": StatCard("Devices"),
            "reachable": StatCard("Reachable devices"),
            "events": StatCard("Events"),
            "campaigns": StatCard("Campaigns"),
        }
        grid = QGridLayout()
        grid.setSpacing(16)
        for i, card in enumerate(self.cards.values()):
            grid.addWidget(card, i // 3, i % 3)
        self.connection = QLabel(objectName="EmptyText")
        self.connection.setWordWrap(True)
        figures = QWidget()
        figures_layout = QVBoxLayout(figures)
        figures_layout.setContentsMargins(0, 0, 0, 0)
        figures_layout.setSpacing(16)
        figures_layout.addLayout(grid)
        figures_layout.addWidget(self.connection)
        figures_layout.addStretch(1)
        self.empty = EmptyState(
            "overview", "This workspace is empty",
            "Import users and events with <b>herald import users FILE.csv</b> and "
            "<b>herald import events FILE.csv</b>, or let apps register devices through the SDK API "
            "(<b>herald serve</b>). The seeded demo workspace arrives with the simulator.",
            theme.text_muted,
        )
        self.error = QLabel(objectName="EmptyText")
        self.error.setWordWrap(True)
        self.stack = QStackedWidget()
        for widget in (figures, self.empty, self.error):
            self.stack.addWidget(widget)
        self.body.addWidget(self.stack, 1)

    def refresh(self) -> None:
        """Count again on the engine thread; the figures update when the answer arrives."""
        if self.primary_button is not None:
            self.primary_button.setEnabled(False)
        self._host.submit(self._load, self.show_summary, self.show_error)

    def show_summary(self, summary: WorkspaceSummary) -> None:
        """Fill the cards from ``summary``."""
        if self.primary_button is not None:
            self.primary_button.setEnabled(True)
        platforms = " · ".join(f"{name} {count:,}" for name, count in sorted(summary.devices_by_platform.items()))
        self.cards["users"].set_value(summary.users)
        self.cards["devices"].set_value(summary.devices, platforms or "none registered")
        share = f"{summary.reachable_devices / summary.devices:.0%} of devices" if summary.devices else ""
        self.cards["reachable"].set_value(summary.reachable_devices, share)
        self.cards["events"].set_value(summary.events)
        self.cards["campaigns"].set_value(summary.campaigns)
        key = f"SDK key {summary.sdk_key_hint}" if summary.sdk_key_hint else "no SDK key yet (herald sdk-key)"
        self.connection.setText(
            f"Workspace: {summary.location} ({summary.backend}). Devices report to the SDK API "
            f"(herald serve) with the workspace's {key}."
        )
        self.set_context(
            f"{summary.users:,} users · {summary.devices:,} devices · {summary.events:,} events"
        )
        self.stack.setCurrentIndex(1 if summary.is_empty else 0)

    def show_error(self, error: BaseException) -> None:
        """Say what went wrong instead of the figures."""
        if self.primary_button is not None:
            self.primary_button.setEnabled(True)
        self.set_context("The workspace could not be read")
        self.error.setText(f"{error}\n\nCheck the --db URL or HERALD_DB, then press Refresh.")
        self.stack.setCurrentIndex(2)
