"""The left navigation rail: icons with labels, collapsing to icons alone on narrow windows.

Signals:
    page_selected(str): the key of the page the user picked.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from console.icons import icon
from console.theme import Theme

WIDE = 200
NARROW = 64


class NavRail(QWidget):
    """A list of pages; exactly one is current."""

    page_selected = Signal(str)

    def __init__(self, pages: list[tuple[str, str]], theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="NavRail")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._brand = QLabel("Herald", objectName="Brand")
        self.list = QListWidget(objectName="NavList")
        self.list.setIconSize(QSize(20, 20))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._labels: dict[str, str] = {}
        for key, label in pages:
            item = QListWidgetItem(icon(key, theme.text_muted, theme.accent_text), label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(label)
            item.setSizeHint(QSize(0, 40))
            self.list.addItem(item)
            self._labels[key] = label
        self.list.currentItemChanged.connect(self._on_current)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._brand)
        layout.addWidget(self.list, 1)
        self.set_collapsed(False)

    def _on_current(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self.page_selected.emit(item.data(Qt.ItemDataRole.UserRole))

    def select(self, key: str) -> None:
        """Make ``key`` the current page (emits page_selected)."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == key:
                self.list.setCurrentRow(row)
                return

    def current(self) -> str:
        """The key of the current page."""
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else ""

    def set_collapsed(self, collapsed: bool) -> None:
        """Show icons only (narrow windows) or icons with labels."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            key = item.data(Qt.ItemDataRole.UserRole)
            item.setText("" if collapsed else self._labels[key])
        self._brand.setText("H" if collapsed else "Herald")
        self.setFixedWidth(NARROW if collapsed else WIDE)
