"""The frame every screen uses: a header (title, one line of context, one primary action) over content."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class Page(QWidget):
    """A titled page; subclasses or callers put their content into ``body``."""

    def __init__(self, title: str, context: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title_label = QLabel(title, objectName="PageTitle")
        self.context_label = QLabel(context, objectName="PageContext")
        header_text = QVBoxLayout()
        header_text.setSpacing(4)
        header_text.addWidget(self.title_label)
        header_text.addWidget(self.context_label)
        self._header = QHBoxLayout()
        self._header.addLayout(header_text, 1)
        self.primary_button: QPushButton | None = None
        self.body = QVBoxLayout()
        self.body.setSpacing(16)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(32, 24, 32, 24)
        outer.setSpacing(24)
        outer.addLayout(self._header)
        outer.addLayout(self.body, 1)

    def set_context(self, text: str) -> None:
        """Replace the line of context under the title."""
        self.context_label.setText(text)

    def set_primary_action(self, text: str, tooltip: str = "") -> QPushButton:
        """The page's single accent-coloured action on the right of the header."""
        if self.primary_button is None:
            self.primary_button = QPushButton(text, objectName="Primary")
            self._header.addWidget(self.primary_button)
        self.primary_button.setText(text)
        self.primary_button.setToolTip(tooltip)
        return self.primary_button
