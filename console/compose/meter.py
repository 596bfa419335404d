"""A byte meter: how much of a platform's payload limit a push uses, coloured at thresholds.

Green up to ``NEAR`` of the limit, amber up to the limit (or when the body was trimmed to fit), red over it.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from console.theme import Theme

#: Share of the limit from which the meter turns amber.
NEAR = 0.8


class SizeMeter(QWidget):
    """``label`` with ``size / limit`` bytes and a bar; ``level`` is ``ok``, ``near`` or ``over``."""

    def __init__(self, label: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.theme = theme
        self.size_bytes = 0
        self.limit = 1
        self.trimmed = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(40)

    def sizeHint(self) -> QSize:
        """A label line and a bar."""
        return QSize(220, 40)

    def set_usage(self, size: int, limit: int, trimmed: bool = False) -> None:
        """Show ``size`` bytes of ``limit``."""
        self.size_bytes, self.limit, self.trimmed = size, max(limit, 1), trimmed
        self.setToolTip(self.text())
        self.update()

    @property
    def level(self) -> str:
        """``ok``, ``near`` (or trimmed to fit) or ``over``."""
        ratio = self.size_bytes / self.limit
        if ratio > 1:
            return "over"
        return "near" if ratio >= NEAR or self.trimmed else "ok"

    @property
    def colour(self) -> str:
        """The bar's colour for the current level (the theme's semantic colours)."""
        return {"ok": self.theme.delivered, "near": self.theme.retrying, "over": self.theme.failed}[self.level]

    def text(self) -> str:
        """``1,234 / 4,096 B`` with what it means when it matters."""
        base = f"{self.size_bytes:,} / {self.limit:,} B"
        if self.level == "over":
            return f"{base} · {self.size_bytes - self.limit:,} B over"
        if self.trimmed:
            return f"{base} · body trimmed"
        return base

    def paintEvent(self, event: QPaintEvent) -> None:
        """Label and figure on one line, the bar under them."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = self.width()
        label_font = QFont(self.font())
        label_font.setPixelSize(12)
        painter.setFont(label_font)
        painter.setPen(QColor(self.theme.text_muted))
        painter.drawText(QRectF(0, 0, width, 18), Qt.AlignmentFlag.AlignVCenter, self.label)
        figure = QFont(label_font)
        figure.setFeature(QFont.Tag("tnum"), 1)
        figure.setWeight(QFont.Weight.DemiBold if self.level != "ok" else QFont.Weight.Normal)
        painter.setFont(figure)
        painter.setPen(QColor(self.colour if self.level != "ok" else self.theme.text))
        painter.drawText(QRectF(0, 0, width, 18), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         self.text())
        track = QRectF(0, 26, width, 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(self.theme.border))
        painter.drawRoundedRect(track, 3, 3)
        fill = QRectF(track.left(), track.top(), track.width() * min(1.0, self.size_bytes / self.limit), 6)
        painter.setBrush(QColor(self.colour))
        painter.drawRoundedRect(fill, 3, 3)
        painter.end()
