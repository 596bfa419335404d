"""A card with one big figure, its label and a line of detail."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


class StatCard(QFrame):
    """Shows ``label`` above a large ``value`` and a muted ``detail`` line."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="Card")
        self.label = QLabel(label.upper(), objectName="CardLabel")
        self.value = QLabel("—", objectName="CardValue")
        self.detail = QLabel("", objectName="CardDetail")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(8)
        for widget in (self.label, self.value, self.detail):
            layout.addWidget(widget)
        self.setMinimumWidth(180)

    def set_value(self, value: int | str, detail: str = "") -> None:
        """Show a figure (integers with thousands separators) and its detail line."""
        self.value.setText(f"{value:,}" if isinstance(value, int) else value)
        self.detail.setText(detail)
