"""The Campaigns screen: the sortable, filterable list with its actions, and the live dashboard behind it.

``CampaignsScreen`` stacks the list (``CampaignListPage``) and one campaign's ``DashboardPage``; opening a
campaign (double-click, Enter, "Open") or sending one shows the dashboard, "← All campaigns" or Esc goes
back. Every action runs on the engine thread through the host; failures show inline above the table.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QWidget,
)

from console.bridge import Host, readable
from console.campaigns.dashboard import RECALL_TOOLTIP, DashboardPage
from console.campaigns.model import (
    CTR,
    LIVE_STATES,
    NAME,
    ROW_ROLE,
    CampaignFilterModel,
    CampaignTableModel,
)
from console.campaigns.send_dialog import SendDialog
from console.theme import Theme
from console.widgets.empty_state import EmptyState
from console.widgets.page import Page
from core.campaigns.service import CampaignSummary
from core.domain import CampaignState
from core.providers.profiles import ProfileKind
from core.sending.engine import StartResult

STATE_FILTERS = [("All states", "all"), ("Live", "live"), ("Drafts", "draft"), ("Completed", "completed"),
                 ("Cancelled", "cancelled")]
_SENDABLE = (CampaignState.DRAFT, CampaignState.PAUSED)


def state_colours(theme: Theme) -> dict[CampaignState, str]:
    """The semantic colour of each campaign state in the list."""
    return {CampaignState.SENDING: theme.accent, CampaignState.PAUSED: theme.retrying,
            CampaignState.COMPLETED: theme.delivered, CampaignState.CANCELLED: theme.failed,
            CampaignState.RECALLED: theme.failed, CampaignState.RECALLING: theme.retrying,
            CampaignState.DRAFT: theme.text_muted}


class CampaignListPage(Page):
    """The campaign table with search, state filter and actions.

    Signals:
        new_requested(): New campaign (Ctrl+N).
        open_requested(int): show this campaign's dashboard.
        send_requested(int): start the send flow for this campaign.
    """

    new_requested = Signal()
    open_requested = Signal(int)
    send_requested = Signal(int)

    def __init__(self, host: Host, session: Any, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__("Campaigns", "Loading…", parent)
        self._host = host
        self._session = session
        new = self.set_primary_action("New campaign", "Write a new push (Ctrl+N)")
        new.clicked.connect(self.new_requested.emit)
        self.model = CampaignTableModel(state_colours(theme))
        self.proxy = CampaignFilterModel()
        self.proxy.setSourceModel(self.model)

        tools = QHBoxLayout()
        tools.setSpacing(8)
        self.search = QLineEdit(placeholderText="Search campaigns (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setFixedWidth(280)
        self.search.textChanged.connect(self.proxy.set_search)
        self.state_filter = QComboBox()
        for label, value in STATE_FILTERS:
            self.state_filter.addItem(label, value)
        self.state_filter.currentIndexChanged.connect(
            lambda _: self.proxy.set_state(str(self.state_filter.currentData())))
        tools.addWidget(self.search)
        tools.addWidget(self.state_filter)
        tools.addStretch(1)
        self.buttons: dict[str, QPushButton] = {}
        for key, label, tip in [
            ("open", "Open", "Show the live dashboard (Enter)"),
            ("duplicate", "Duplicate", "Make a draft copy"),
            ("send", "Send…", "Choose the audience and send (Ctrl+Enter)"),
            ("pause", "Pause", "Stop sending for now; Resume carries on"),
            ("cancel", "Cancel", "Cancel every message that has not left"),
            ("recall", "Recall", RECALL_TOOLTIP),
        ]:
            button = QPushButton(label)
            button.setToolTip(tip)
            tools.addWidget(button)
            self.buttons[key] = button
        self.buttons["cancel"].setObjectName("Danger")
        self.buttons["open"].clicked.connect(lambda: self._with_selected(lambda s: self.open_requested.emit(s.id)))
        self.buttons["duplicate"].clicked.connect(lambda: self._with_selected(self.duplicate))
        self.buttons["send"].clicked.connect(lambda: self._with_selected(lambda s: self.send_requested.emit(s.id)))
        self.buttons["pause"].clicked.connect(lambda: self._with_selected(self.pause_or_resume))
        self.buttons["cancel"].clicked.connect(lambda: self._with_selected(self.cancel))
        self.body.addLayout(tools)

        self.message = QLabel("", objectName="Inline")
        self.message.setWordWrap(True)
        self.message.hide()
        self.body.addWidget(self.message)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(40)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for column in range(1, CTR + 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, 120)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda index: self.open_requested.emit(self._summary(index).id))
        self.table.activated.connect(lambda index: self.open_requested.emit(self._summary(index).id))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())

        self.empty = EmptyState(
            "campaigns", "No campaigns yet",
            "Write your first push with <b>New campaign</b> (Ctrl+N); it is sent to the simulator's virtual "
            "devices unless you choose a production profile in Settings.", theme.text_muted,
        )
        self.nothing_found = EmptyState("campaigns", "No campaign matches",
                                        "Clear the search box or choose “All states”.", theme.text_muted)
        self.stack = QStackedWidget()
        for widget in (self.table, self.empty, self.nothing_found):
            self.stack.addWidget(widget)
        self.body.addWidget(self.stack, 1)
        self.proxy.rowsInserted.connect(self._show_table_or_empty)
        self.proxy.rowsRemoved.connect(self._show_table_or_empty)
        self.proxy.modelReset.connect(self._show_table_or_empty)
        self.proxy.layoutChanged.connect(self._show_table_or_empty)

        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.focus_search)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self._send_selected)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self._send_selected)
        self.timer = QTimer(self, interval=2000)
        self.timer.timeout.connect(self.refresh)
        self._loading = False
        self._pending_select: int | None = None
        self._update_buttons()

    # -------------------------------------------------------------------------------------- loading

    def refresh(self) -> None:
        """Reload the list on the engine thread (skipped while a reload is out)."""
        if self._loading:
            return
        self._loading = True

        def done(rows: list[CampaignSummary]) -> None:
            self._loading = False
            self.set_rows(rows)

        def failed(error: BaseException) -> None:
            self._loading = False
            self.show_message(f"The campaigns could not be listed: {readable(error)}")

        self._host.submit(self._session.campaigns, done, failed)

    def set_rows(self, rows: list[CampaignSummary]) -> None:
        """Show ``rows``, keeping the selection on the same campaign."""
        selected = self.selected()
        self.model.set_rows(rows)
        live = sum(1 for r in rows if r.state in LIVE_STATES)
        sending = sum(1 for r in rows if r.state is CampaignState.SENDING)
        self.set_context(f"{len(rows):,} campaign{'s' if len(rows) != 1 else ''}"
                         + (f" · {sending} sending" if sending else "")
                         + (f" · {live - sending} paused" if live - sending else ""))
        target = self._pending_select or (selected.id if selected is not None else None)
        self._pending_select = None
        if target is not None:
            self.select(target)
        if live and self.isVisible():
            self.timer.start()
        elif not live:
            self.timer.stop()
        self._update_buttons()

    def _show_table_or_empty(self) -> None:
        if self.model.rowCount() == 0:
            self.stack.setCurrentWidget(self.empty)
        elif self.proxy.rowCount() == 0:
            self.stack.setCurrentWidget(self.nothing_found)
        else:
            self.stack.setCurrentWidget(self.table)

    def show_message(self, text: str | None) -> None:
        """An inline message above the table (None hides it)."""
        self.message.setVisible(bool(text))
        self.message.setText(text or "")

    # ------------------------------------------------------------------------------------ selection

    def _summary(self, index: QModelIndex) -> CampaignSummary:
        summary = self.proxy.data(index, ROW_ROLE)
        assert isinstance(summary, CampaignSummary)
        return summary

    def selected(self) -> CampaignSummary | None:
        """The selected campaign, if any."""
        rows = self.table.selectionModel().selectedRows()
        return self._summary(rows[0]) if rows else None

    def select(self, campaign_id: int) -> None:
        """Select the row of ``campaign_id`` (when shown)."""
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self._summary(index).id == campaign_id:
                self.table.selectionModel().select(
                    index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
                self.table.scrollTo(index)
                return

    def _with_selected(self, action: Any) -> None:
        summary = self.selected()
        if summary is None:
            self.show_message("Select a campaign first.")
            return
        action(summary)

    def _update_buttons(self) -> None:
        s = self.selected()
        state = s.state if s else None
        self.buttons["open"].setEnabled(s is not None)
        self.buttons["duplicate"].setEnabled(s is not None)
        self.buttons["send"].setEnabled(state in _SENDABLE)
        self.buttons["pause"].setEnabled(state in (CampaignState.SENDING, CampaignState.PAUSED))
        self.buttons["pause"].setText("Resume" if state is CampaignState.PAUSED else "Pause")
        self.buttons["cancel"].setEnabled(state in (CampaignState.SENDING, CampaignState.PAUSED))
        self.buttons["recall"].setEnabled(False)

    def focus_search(self) -> None:
        """Ctrl+F."""
        self.search.setFocus()
        self.search.selectAll()

    def _send_selected(self) -> None:
        s = self.selected()
        if s is not None and s.state in _SENDABLE:
            self.send_requested.emit(s.id)

    # -------------------------------------------------------------------------------------- actions

    def _run(self, what: str, work: Any, then: Any = None) -> None:
        self.show_message(None)

        def done(result: object) -> None:
            if then is not None:
                then(result)
            self.refresh()

        self._host.submit(work, done, lambda e: (self.show_message(f"Could not {what}: {readable(e)}"),
                                                 self.refresh()))

    def duplicate(self, summary: CampaignSummary) -> None:
        """A draft copy, selected when it arrives."""
        self._run("duplicate the campaign", lambda: self._session.duplicate_campaign(summary.id),
                  lambda new_id: setattr(self, "_pending_select", int(new_id)))

    def pause_or_resume(self, summary: CampaignSummary) -> None:
        """Pause a sending campaign, resume a paused one."""
        if summary.state is CampaignState.PAUSED:
            self._run("resume the campaign", lambda: self._session.resume(summary.id))
        else:
            self._run("pause the campaign", lambda: self._session.pause(summary.id))

    def cancel(self, summary: CampaignSummary) -> None:
        """Cancel what has not left."""
        self._run("cancel the campaign", lambda: self._session.cancel(summary.id))

    def showEvent(self, event: Any) -> None:
        """Reload when shown."""
        super().showEvent(event)
        self.refresh()

    def hideEvent(self, event: Any) -> None:
        """No polling while hidden."""
        self.timer.stop()
        super().hideEvent(event)


class CampaignsScreen(QStackedWidget):
    """The list and the dashboard, one at a time; owns the send flow.

    Signals:
        new_requested(): forwarded from the list's New campaign.
    """

    new_requested = Signal()

    def __init__(self, host: Host, session: Any, theme: Theme, profile: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._session = session
        #: Returns (profile name, kind) of the active profile; the status bar keeps it current.
        self.profile: Any = profile or (lambda: (None, None))
        self.list = CampaignListPage(host, session, theme)
        self.dashboard = DashboardPage(host, session, theme)
        self.addWidget(self.list)
        self.addWidget(self.dashboard)
        self.list.new_requested.connect(self.new_requested.emit)
        self.list.open_requested.connect(self.open_campaign)
        self.list.send_requested.connect(self.start_send)
        self.dashboard.back_requested.connect(self.show_list)
        self.send_dialog: SendDialog | None = None

    def show_list(self) -> None:
        """Back to the list."""
        self.setCurrentWidget(self.list)
        self.list.refresh()

    def open_campaign(self, campaign_id: int) -> None:
        """Show campaign ``campaign_id``'s dashboard."""
        self.setCurrentWidget(self.dashboard)
        self.dashboard.show_campaign(campaign_id)

    def start_send(self, campaign_id: int) -> None:
        """Open the send flow for ``campaign_id`` (its stored audience preselected)."""
        def opened(definition: Any) -> None:
            name, kind = self.profile()
            dialog = SendDialog(self._host, self._session, campaign_id, definition.name, definition.audience,
                                name, kind if isinstance(kind, ProfileKind) else None, self)
            dialog.sent.connect(self._sent)
            dialog.finished.connect(lambda _: setattr(self, "send_dialog", None))
            self.send_dialog = dialog
            dialog.open()

        self._host.submit(lambda: self._session.definition(campaign_id), opened,
                          lambda e: self.list.show_message(f"Cannot send: {readable(e)}"))

    def _sent(self, result: StartResult) -> None:
        self.open_campaign(result.campaign_id)
