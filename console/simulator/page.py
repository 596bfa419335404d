"""Simulator: fleet figures and a live chart on top, the paged device grid, and the selected device or faults.

::

    client = ControlClient(runtime_info.control_url)        # engine-side; no network until first use
    page = SimulatorPage(host, client, theme)                # or client=None until a simulator runs
    page.set_client(client)                                  # attach / replace later
    ...
    page.shutdown()                                          # before host.shutdown(): closes the client

While the page is visible it polls once a second (``POLL_MS``): stats, the current page of devices with
their newest notifications, and the selected device — one ``ControlClient.snapshot`` coroutine on the engine
thread (``host.submit``), never more than one in flight, so a slow simulator cannot pile up work or freeze
the window. Actions (click, dismiss, offline …) and fault changes go the same way and refresh when done.

Signals:
    device_selected(int): the device the user picked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QItemSelection, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.simulator.chart import FleetChart
from console.simulator.client import ControlClient, DeviceFilter, Snapshot
from console.simulator.detail import DeviceDetail
from console.simulator.faults import FaultPanel
from console.simulator.tiles import DEVICE_ROLE, TILE, DeviceTileDelegate, DeviceTileModel
from console.theme import Theme
from console.widgets.empty_state import EmptyState
from console.widgets.page import Page
from console.widgets.stat_card import StatCard

POLL_MS = 1000
PAGE_SIZE = 48


class Host(Protocol):
    """The part of EngineHost this page uses."""

    def submit(self, work: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> Any: ...


def simulator_stylesheet(theme: Theme) -> str:
    """Styles of the simulator's own parts."""
    t = theme
    return f"""
    QListView#DeviceGrid {{ background: {t.window}; border: none; }}
    QLabel#DetailTitle {{ font-size: 16px; font-weight: 600; }}
    QLabel#TrayTitle {{ font-weight: 600; }}
    QLabel#TrayBody {{ color: {t.text}; }}
    QLabel#TrayMeta {{ color: {t.text_muted}; font-size: 11px; }}
    QLabel#Problem {{ color: {t.failed}; }}
    QListWidget#Log {{ border: 1px solid {t.border}; border-radius: 6px; font-family: monospace; font-size: 12px; }}
    QFrame#Panel {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 8px; }}
    QWidget#TrayInner {{ background: transparent; }}
    """


class SimulatorPage(Page):
    """The simulator screen; see the module docstring for wiring."""

    device_selected = Signal(int)

    def __init__(self, host: Host, control_client: ControlClient | None, theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__("Simulator", "Not connected", parent)
        self.host = host
        self.client = control_client
        self.theme = theme
        self.setStyleSheet(simulator_stylesheet(theme))
        self.filter = DeviceFilter(limit=PAGE_SIZE)
        self.selected_id: int | None = None
        self.total = 0
        self.snapshot: Snapshot | None = None
        self._in_flight = False
        self._again = False
        refresh = self.set_primary_action("Refresh", "Read the fleet again now (F5)")
        refresh.clicked.connect(self.refresh)
        QShortcut(QKeySequence("F5"), self).activated.connect(self.refresh)

        self.cards = {
            "devices": StatCard("Devices"),
            "trays": StatCard("In trays"),
            "received": StatCard("Received"),
            "clicked": StatCard("Clicked"),
        }
        figures = QHBoxLayout()
        figures.setSpacing(16)
        for card in self.cards.values():
            card.setMinimumWidth(150)
            figures.addWidget(card)
        self.chart = FleetChart(theme)
        chart_frame = QFrame(objectName="Panel")
        chart_layout = QVBoxLayout(chart_frame)
        chart_layout.setContentsMargins(8, 8, 8, 8)
        chart_layout.addWidget(self.chart)
        top_widget = QWidget()
        top_widget.setFixedHeight(168)
        top = QHBoxLayout(top_widget)
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(16)
        top.addLayout(figures, 3)
        top.addWidget(chart_frame, 2)

        self.platform = QComboBox()
        for label, value in (("All platforms", None), ("Android", "android"), ("iOS", "ios"), ("Web", "web")):
            self.platform.addItem(label, value)
        self.online = QComboBox()
        for label, value in (("Online and offline", None), ("Online", True), ("Offline", False)):
            self.online.addItem(label, value)
        self.platform.currentIndexChanged.connect(self._filter_changed)
        self.online.currentIndexChanged.connect(self._filter_changed)
        self.previous = QPushButton("‹")
        self.previous.setToolTip("Previous page of devices")
        self.previous.setFixedWidth(32)
        self.previous.clicked.connect(lambda: self.go_to_page(-1))
        self.next = QPushButton("›")
        self.next.setToolTip("Next page of devices")
        self.next.setFixedWidth(32)
        self.next.clicked.connect(lambda: self.go_to_page(1))
        self.range_label = QLabel("", objectName="PageContext")
        self.problem = QLabel(objectName="Problem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.platform)
        bar.addWidget(self.online)
        bar.addStretch(1)
        bar.addWidget(self.range_label)
        bar.addWidget(self.previous)
        bar.addWidget(self.next)

        self.model = DeviceTileModel(self)
        self.grid = QListView(objectName="DeviceGrid")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setGridSize(QSize(TILE.width() + 8, TILE.height() + 8))
        self.grid.setSpacing(0)
        self.grid.setMouseTracking(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.grid.setModel(self.model)
        self.grid.setItemDelegate(DeviceTileDelegate(theme, self.grid))
        self.grid.selectionModel().selectionChanged.connect(self._selection_changed)
        grid_side = QWidget()
        grid_layout = QVBoxLayout(grid_side)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        grid_layout.setSpacing(8)
        grid_layout.addLayout(bar)
        grid_layout.addWidget(self.problem)
        grid_layout.addWidget(self.grid, 1)

        self.detail = DeviceDetail(theme)
        self.detail.action_requested.connect(self.act)
        self.faults = FaultPanel()
        self.faults.apply_requested.connect(self.set_faults)
        self.side = QTabWidget()
        self.side.addTab(self.detail, "Device")
        self.side.addTab(self.faults, "Faults")
        self.side.setMinimumWidth(360)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(grid_side)
        self.splitter.addWidget(self.side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([760, 400])
        self.splitter.setChildrenCollapsible(False)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(16)
        content_layout.addWidget(top_widget)
        content_layout.addWidget(self.splitter, 1)
        self.not_running = EmptyState(
            "simulator", "The simulator is not running",
            "Start it with <b>python main.py simulator</b> (or let the console start the demo), then come back: "
            "its devices appear here as tiles whose trays fill as pushes arrive.", theme.text_muted)
        self.stack = QStackedWidget()
        self.stack.addWidget(content)
        self.stack.addWidget(self.not_running)
        self.body.addWidget(self.stack, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)
        self.glow_timer = QTimer(self)
        self.glow_timer.setInterval(80)
        self.glow_timer.timeout.connect(self._repaint_glow)
        self._update_pager()
        self.set_client(control_client)

    # -- connection ----------------------------------------------------------------------------------

    def set_client(self, client: ControlClient | None) -> None:
        """Watch the simulator behind ``client`` (None: show how to start one)."""
        self.client = client
        self.stack.setCurrentIndex(0 if client is not None else 1)
        if self.primary_button is not None:
            self.primary_button.setEnabled(client is not None)
        if client is None:
            self.set_context("Not connected")
            return
        self.set_context(f"Connecting to {client.control_url}…")
        self.refresh()
        self.load_faults()

    def shutdown(self) -> None:
        """Stop polling and close the HTTP client on the engine thread (call before ``host.shutdown()``)."""
        self.timer.stop()
        self.glow_timer.stop()
        if self.client is not None:
            future = self.host.submit(self.client.aclose)
            result = getattr(future, "result", None)
            if callable(result):
                # Closing is best effort at shutdown: a dead simulator must not keep the window open.
                with contextlib.suppress(Exception):
                    result(5)

    def showEvent(self, event: QShowEvent) -> None:
        """Poll while visible."""
        super().showEvent(event)
        if self.client is not None:
            self.timer.start()
            self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        """Stop polling while hidden."""
        self.timer.stop()
        super().hideEvent(event)

    # -- polling ----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the fleet again (coalesced: at most one read in flight, one queued)."""
        if self.client is None:
            return
        if self._in_flight:
            self._again = True
            return
        self._in_flight = True
        client, wanted, selected = self.client, self.filter, self.selected_id
        self.host.submit(lambda: client.snapshot(wanted, selected), self._show_snapshot, self._poll_failed)

    def _finish_poll(self) -> None:
        self._in_flight = False
        if self._again:
            self._again = False
            self.refresh()

    def _show_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.problem.hide()
        self.total = snap.total
        if snap.total and self.filter.offset >= snap.total:
            self.filter = DeviceFilter(self.filter.platform, self.filter.online,
                                       (snap.total - 1) // PAGE_SIZE * PAGE_SIZE, PAGE_SIZE)
            self._again = True
        self.model.set_rows(snap.devices, snap.latest)
        self._restore_selection()
        self._update_pager()
        self._show_stats(snap.stats)
        if snap.detail is not None and snap.detail.get("id") == self.selected_id:
            self.detail.show_device(snap.detail, snap.events)
        if self.model.glowing() and not self.glow_timer.isActive():
            self.glow_timer.start()
        self._finish_poll()

    def _poll_failed(self, error: BaseException) -> None:
        self.problem.setText(f"{error} Retrying every second.")
        self.problem.show()
        self.set_context("Simulator unreachable")
        self._finish_poll()

    def _repaint_glow(self) -> None:
        self.grid.viewport().update()
        if not self.model.glowing():
            self.glow_timer.stop()

    def _show_stats(self, stats: dict[str, Any]) -> None:
        devices = stats.get("devices", {})
        total = sum(int(p.get("total", 0)) for p in devices.values())
        online = sum(int(p.get("online", 0)) for p in devices.values())
        tray = sum(int(p.get("tray", 0)) for p in devices.values())
        pending = sum(int(p.get("pending", 0)) for p in devices.values())
        totals = stats.get("totals", {})

        def count(name: str) -> int:
            return sum(int(p.get(name, 0)) for p in totals.values())

        received, displayed, clicked = count("received"), count("displayed"), count("clicked")
        per_platform = " · ".join(f"{k} {int(v.get('total', 0)):,}" for k, v in devices.items() if v.get("total"))
        self.cards["devices"].set_value(total, f"{online:,} online")
        self.cards["devices"].setToolTip(per_platform)
        self.cards["trays"].set_value(tray, f"{pending:,} pending")
        self.cards["received"].set_value(received, f"{displayed:,} displayed")
        self.cards["received"].setToolTip(f"{count('recalled'):,} recalled · {count('dismissed'):,} dismissed")
        ctr = f"{clicked / displayed:.1%} of displayed" if displayed else "nothing shown yet"
        self.cards["clicked"].set_value(clicked, ctr)
        self.chart.show_series(list(stats.get("per_second", [])))
        self.set_context(f"{total:,} devices · {online:,} online · {tray:,} notifications in trays")

    # -- grid, paging, filters ----------------------------------------------------------------------

    def _filter_changed(self) -> None:
        self.filter = DeviceFilter(self.platform.currentData(), self.online.currentData(), 0, PAGE_SIZE)
        self._update_pager()
        self.refresh()

    def go_to_page(self, step: int) -> None:
        """Show the next (1) or previous (-1) page of devices."""
        offset = max(0, self.filter.offset + step * PAGE_SIZE)
        if step > 0 and offset >= self.total:
            return
        self.filter = DeviceFilter(self.filter.platform, self.filter.online, offset, PAGE_SIZE)
        self._update_pager()
        self.refresh()

    def _update_pager(self) -> None:
        first = self.filter.offset + 1 if self.total else 0
        last = min(self.total, self.filter.offset + PAGE_SIZE)
        self.range_label.setText(f"{first:,}–{last:,} of {self.total:,}" if self.total else "No devices")
        self.previous.setEnabled(self.filter.offset > 0)
        self.next.setEnabled(self.filter.offset + PAGE_SIZE < self.total)

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        device = indexes[0].data(DEVICE_ROLE)
        if device is None or int(device["id"]) == self.selected_id:
            return
        self.select_device(int(device["id"]))

    def select_device(self, device_id: int) -> None:
        """Show device ``device_id`` in the detail pane (it need not be on the current page)."""
        self.selected_id = device_id
        self.side.setCurrentWidget(self.detail)
        self.device_selected.emit(device_id)
        self._restore_selection()
        self.refresh()

    def _restore_selection(self) -> None:
        row = self.model.row_of(self.selected_id) if self.selected_id is not None else -1
        selection = self.grid.selectionModel()
        if row < 0:
            return
        index = self.model.index(row)
        if not selection.isSelected(index):
            selection.blockSignals(True)
            self.grid.setCurrentIndex(index)
            selection.blockSignals(False)
            self.grid.viewport().update()

    def tile_index(self, device_id: int) -> QModelIndex:
        """The grid's index of ``device_id`` on the current page (invalid when not shown)."""
        row = self.model.row_of(device_id)
        return self.model.index(row) if row >= 0 else QModelIndex()

    # -- actions and faults ------------------------------------------------------------------------

    def act(self, device_id: int, action: str, body: object) -> None:
        """Carry out ``action`` on a device (through the control API), then refresh."""
        if self.client is None:
            return
        client = self.client
        payload = dict(body) if isinstance(body, dict) else {}
        self.host.submit(lambda: client.act(device_id, action, **payload), lambda _r: self.refresh(),
                         self._action_failed)

    def _action_failed(self, error: BaseException) -> None:
        self.problem.setText(str(error))
        self.problem.show()
        self.refresh()

    def load_faults(self) -> None:
        """Read every service's fault settings into the Faults tab."""
        if self.client is None:
            return
        client = self.client
        self.host.submit(client.faults, self.faults.show_settings,
                         lambda e: self.faults.show_error(f"Fault settings could not be read: {e}"))

    def set_faults(self, service: str, changes: object) -> None:
        """PUT ``changes`` to one service's faults."""
        if self.client is None:
            return
        client = self.client
        payload = dict(changes) if isinstance(changes, dict) else {}
        self.host.submit(lambda: client.set_faults(service, **payload),
                         lambda applied: self.faults.show_applied(service, applied),
                         lambda e: self.faults.show_error(f"Not applied: {e}"))
