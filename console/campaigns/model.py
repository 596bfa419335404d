"""The campaign list as a Qt table model: named columns, ``set_rows()``, sortable raw values.

The model holds plain ``CampaignSummary`` rows; ``Qt.UserRole`` gives each cell's raw value (numbers sort
as numbers, a missing CTR sorts first) and ``ROW_ROLE`` the row itself, for actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from core.campaigns.service import CampaignSummary
from core.domain import CampaignState

NAME, STATE, AUDIENCE, SENT, DELIVERED, CLICKED, CTR = range(7)
HEADERS = {NAME: "Name", STATE: "State", AUDIENCE: "Audience", SENT: "Sent", DELIVERED: "Delivered",
           CLICKED: "Clicked", CTR: "CTR"}
NUMERIC = (AUDIENCE, SENT, DELIVERED, CLICKED, CTR)
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
#: Campaigns that are on their way out right now.
LIVE_STATES = (CampaignState.SENDING, CampaignState.PAUSED, CampaignState.RECALLING)
Index = QModelIndex | QPersistentModelIndex


def ctr_text(summary: CampaignSummary) -> str:
    """Click-through rate as people read it ("4.2 %"), or an em dash before any delivery."""
    rate = summary.click_through_rate
    return "—" if rate is None else f"{rate * 100:.1f} %"


class CampaignTableModel(QAbstractTableModel):
    """Rows of ``CampaignSummary``; columns are the module's named constants."""

    def __init__(self, state_colours: dict[CampaignState, str] | None = None) -> None:
        super().__init__()
        self._rows: list[CampaignSummary] = []
        self._colours = state_colours or {}

    def set_rows(self, rows: Sequence[CampaignSummary]) -> None:
        """Replace every row (the list is small: a reset keeps it simple and correct)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[CampaignSummary]:
        """The rows in model order."""
        return list(self._rows)

    def row(self, index: int) -> CampaignSummary:
        """The summary at model row ``index``."""
        return self._rows[index]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        """Number of campaigns."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        """Number of columns."""
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Column titles; numeric columns are right-aligned."""
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Display text, raw sort values, alignment and state colours."""
        if not index.isValid():
            return None
        summary = self._rows[index.row()]
        column = index.column()
        if role == ROW_ROLE:
            return summary
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(summary, column)
        if role == Qt.ItemDataRole.UserRole:
            return self._raw(summary, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == STATE and summary.state in self._colours:
            return QColor(self._colours[summary.state])
        if role == Qt.ItemDataRole.ToolTipRole and column == CTR:
            return "Clicks per delivered message"
        return None

    @staticmethod
    def _text(s: CampaignSummary, column: int) -> str:
        values = {NAME: s.name, STATE: s.state.value.capitalize(), AUDIENCE: f"{s.targeted:,}" if s.targeted else "—",
                  SENT: f"{s.sent:,}", DELIVERED: f"{s.delivered:,}", CLICKED: f"{s.clicked:,}", CTR: ctr_text(s)}
        return values[column]

    @staticmethod
    def _raw(s: CampaignSummary, column: int) -> Any:
        values: dict[int, Any] = {NAME: s.name.lower(), STATE: s.state.value, AUDIENCE: s.targeted, SENT: s.sent,
                                  DELIVERED: s.delivered, CLICKED: s.clicked,
                                  CTR: -1.0 if s.click_through_rate is None else s.click_through_rate}
        return values[column]


class CampaignFilterModel(QSortFilterProxyModel):
    """Sorts on raw values; filters on a search text (name) and a state group ("all", "live", a state)."""

    def __init__(self) -> None:
        super().__init__()
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self._text = ""
        self._state = "all"

    def set_search(self, text: str) -> None:
        """Show only campaigns whose name contains ``text`` (case-insensitive)."""
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_state(self, state: str) -> None:
        """``all``, ``live`` (sending, paused, recalling) or one ``CampaignState`` value."""
        self.beginFilterChange()
        self._state = state
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        """Apply the search text and the state group."""
        model = self.sourceModel()
        assert isinstance(model, CampaignTableModel)
        summary = model.row(source_row)
        if self._text and self._text not in summary.name.lower():
            return False
        if self._state == "live":
            return summary.state in LIVE_STATES
        return self._state == "all" or summary.state.value == self._state
