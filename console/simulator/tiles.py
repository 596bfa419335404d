"""The device grid: a list model of one page of devices and a delegate that paints each as a small phone.

Painting tiles (instead of a widget per device) keeps the grid cheap at any fleet size: the view holds one
page (``DeviceFilter.limit`` devices) and repaints only what changed. A tile shows the platform's frame
(a phone, or a browser window for web), the platform badge, the owner, an online dot, the tray count, and
the newest notification's title and body; a tile whose tray just changed glows in the accent colour for a
moment, so messages visibly arrive and vanish (recall) as the fleet changes.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from console.compose.devices import wrapped_lines
from console.theme import Theme

TILE = QSize(164, 232)
#: How long a tile glows after its tray changed (seconds).
GLOW_S = 2.0
DEVICE_ROLE = Qt.ItemDataRole.UserRole + 1
LATEST_ROLE = Qt.ItemDataRole.UserRole + 2
CHANGED_ROLE = Qt.ItemDataRole.UserRole + 3
PLATFORM_LABELS = {"android": "Android", "ios": "iOS", "web": "Web"}

_Index = QModelIndex | QPersistentModelIndex


class DeviceTileModel(QAbstractListModel):
    """One page of device summaries (``/control/devices`` rows) with their newest notifications."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.devices: list[dict[str, Any]] = []
        self.latest: dict[int, dict[str, Any]] = {}
        self._seen: dict[int, tuple[Any, ...]] = {}
        self._changed_at: dict[int, float] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        """Devices on this page."""
        return 0 if parent.isValid() else len(self.devices)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """The device (``DEVICE_ROLE``), its newest tray entry (``LATEST_ROLE``) or text for tooltips."""
        if not index.isValid() or index.row() >= len(self.devices):
            return None
        device = self.devices[index.row()]
        if role == DEVICE_ROLE:
            return device
        if role == LATEST_ROLE:
            return self.latest.get(int(device["id"]))
        if role == CHANGED_ROLE:
            return self._changed_at.get(int(device["id"]), 0.0)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return f"Device {device['id']} · {PLATFORM_LABELS.get(device['platform'], device['platform'])}"
        if role == Qt.ItemDataRole.ToolTipRole:
            state = "online" if device.get("online") else "offline"
            if not device.get("installed", True):
                state = "app uninstalled"
            return (f"Device {device['id']} ({device['platform']}) of {device.get('user') or 'nobody'}\n"
                    f"{state} · {device.get('tray_count', 0)} in tray · {device.get('pending_count', 0)} pending\n"
                    f"{device.get('locale') or ''} {device.get('app_version') or ''}")
        return None

    def set_rows(self, devices: list[dict[str, Any]], latest: dict[int, dict[str, Any]]) -> None:
        """Show ``devices``; rows whose tray changed since the last call are marked to glow."""
        now = time.monotonic()
        same_ids = [d["id"] for d in devices] == [d["id"] for d in self.devices]
        for d in devices:
            device_id = int(d["id"])
            note = latest.get(device_id)
            key = (d.get("tray_count"), d.get("pending_count"), note.get("message_id") if note else None)
            previous = self._seen.get(device_id)
            if previous is not None and previous != key:
                self._changed_at[device_id] = now
            self._seen[device_id] = key
        if len(self._seen) > 20_000:
            self._seen = {int(d["id"]): self._seen[int(d["id"])] for d in devices}
            self._changed_at.clear()
        if same_ids:
            self.devices, self.latest = devices, latest
            if devices:
                self.dataChanged.emit(self.index(0), self.index(len(devices) - 1))
            return
        self.beginResetModel()
        self.devices, self.latest = devices, latest
        self.endResetModel()

    def glowing(self) -> bool:
        """Whether any tile is still glowing (the view keeps repainting while one is)."""
        now = time.monotonic()
        return any(now - t < GLOW_S for t in self._changed_at.values())

    def row_of(self, device_id: int) -> int:
        """The row of ``device_id`` on this page, or -1."""
        for row, d in enumerate(self.devices):
            if int(d["id"]) == device_id:
                return row
        return -1


def _font(size: float, weight: QFont.Weight = QFont.Weight.Normal) -> QFont:
    f = QFont()
    f.setPixelSize(round(size))
    f.setWeight(weight)
    return f


class DeviceTileDelegate(QStyledItemDelegate):
    """Paints a device tile; see the module docstring."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self._badge_colours = {"android": "#3ddc84", "ios": "#8e8e93", "web": "#4f8ff7"}

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        """Every tile has the same size."""
        return TILE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        """Card, frame, screen with the newest notification, and the caption under it."""
        device: dict[str, Any] | None = index.data(DEVICE_ROLE)
        if device is None:
            return
        latest: dict[str, Any] | None = index.data(LATEST_ROLE)
        changed: float = index.data(CHANGED_ROLE) or 0.0
        t = self.theme
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect).adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)  # type: ignore[attr-defined]
        glow = max(0.0, 1.0 - (time.monotonic() - changed) / GLOW_S) if changed else 0.0
        border = QColor(t.accent) if selected else QColor(t.border)
        if glow and not selected:
            border = QColor(t.delivered)
            border.setAlphaF(0.35 + 0.65 * glow)
        painter.setPen(QPen(border, 2 if selected or glow else 1))
        painter.setBrush(QColor(t.surface_alt if hovered and not selected else t.surface))
        painter.drawRoundedRect(rect, 8, 8)

        installed = device.get("installed", True)
        online = bool(device.get("online"))
        platform = str(device.get("platform"))
        frame = QRectF(rect.center().x() - 48, rect.top() + 10, 96, 150)
        if platform == "web":
            frame = QRectF(rect.left() + 10, rect.top() + 22, rect.width() - 20, 118)
        self._paint_frame(painter, frame, platform, latest, installed)

        y = rect.top() + 168
        badge_colour = QColor(self._badge_colours.get(platform, t.text_muted))
        badge_font = _font(10, QFont.Weight.DemiBold)
        painter.setFont(badge_font)
        label = PLATFORM_LABELS.get(platform, platform)
        badge_w = QFontMetricsF(badge_font).horizontalAdvance(label) + 12
        badge = QRectF(rect.left() + 10, y, badge_w, 16)
        fill = QColor(badge_colour)
        fill.setAlphaF(0.18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(badge, 8, 8)
        painter.setPen(QColor(t.text))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        dot = QColor(t.delivered if online and installed else t.text_muted if installed else t.failed)
        painter.setBrush(dot)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(QPointF(rect.right() - 14, y + 8), 4, 4)
        painter.setFont(_font(10))
        painter.setPen(QColor(t.text_muted))
        state = "online" if online else "offline"
        if not installed:
            state = "uninstalled"
        painter.drawText(QRectF(badge.right() + 6, y, rect.right() - 22 - badge.right() - 6, 16),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, state)
        y += 22
        owner = str(device.get("user") or "—")
        name_font = _font(12, QFont.Weight.DemiBold)
        painter.setFont(name_font)
        painter.setPen(QColor(t.text))
        painter.drawText(QRectF(rect.left() + 10, y, rect.width() - 20, 16), Qt.AlignmentFlag.AlignVCenter,
                         QFontMetricsF(name_font).elidedText(owner, Qt.TextElideMode.ElideRight, rect.width() - 20))
        y += 18
        tray = int(device.get("tray_count") or 0)
        pending = int(device.get("pending_count") or 0)
        count_font = _font(10)
        count_font.setFeature(QFont.Tag("tnum"), 1)
        painter.setFont(count_font)
        painter.setPen(QColor(t.text_muted))
        counts = f"#{device['id']} · {tray} in tray" + (f" · {pending} pending" if pending else "")
        painter.drawText(QRectF(rect.left() + 10, y, rect.width() - 20, 14), Qt.AlignmentFlag.AlignVCenter, counts)
        painter.restore()

    def _paint_frame(self, painter: QPainter, frame: QRectF, platform: str, latest: dict[str, Any] | None,
                     installed: bool) -> None:
        t = self.theme
        dark = t.dark
        if platform == "web":
            painter.setPen(QPen(QColor(t.border), 1))
            painter.setBrush(QColor("#ffffff") if not dark else QColor("#1b1e24"))
            painter.drawRoundedRect(frame, 6, 6)
            bar = QRectF(frame.left(), frame.top(), frame.width(), 14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#e7e9ee") if not dark else QColor("#2b2f38"))
            painter.drawRoundedRect(bar, 6, 6)
            painter.drawRect(QRectF(bar.left(), bar.top() + 7, bar.width(), 7))
            for i, c in enumerate(("#ff5f57", "#febc2e", "#28c840")):
                painter.setBrush(QColor(c))
                painter.drawEllipse(QPointF(bar.left() + 8 + i * 8, bar.center().y()), 2.3, 2.3)
            screen = frame.adjusted(4, 18, -4, -4)
        else:
            radius = 16 if platform == "ios" else 13
            painter.setPen(QPen(QColor("#3a3d44"), 1))
            painter.setBrush(QColor("#111216"))
            painter.drawRoundedRect(frame, radius, radius)
            screen = frame.adjusted(4, 4, -4, -4)
            painter.setPen(Qt.PenStyle.NoPen)
            if platform == "ios":
                painter.setBrush(QColor("#40508f") if installed else QColor("#2b2d33"))
            else:
                painter.setBrush(QColor("#c9d3ec") if installed and not dark else
                                 QColor("#222838") if installed else QColor("#2b2d33"))
            painter.drawRoundedRect(screen, radius - 3, radius - 3)
            painter.setBrush(QColor("#000000"))
            if platform == "ios":
                painter.drawRoundedRect(QRectF(screen.center().x() - 14, screen.top() + 4, 28, 7), 3.5, 3.5)
            else:
                painter.drawEllipse(QPointF(screen.center().x(), screen.top() + 7), 2.5, 2.5)
        if not installed:
            painter.setFont(_font(10))
            painter.setPen(QColor("#a3a9b6"))
            painter.drawText(screen, Qt.AlignmentFlag.AlignCenter, "not installed")
            return
        note = (latest or {}).get("notification")
        if not note:
            return
        card = QRectF(screen.left() + 4, screen.top() + (16 if platform != "web" else 4), screen.width() - 8, 0)
        title = str(note.get("title") or "")
        body = str(note.get("body") or "")
        title_font = _font(9.5, QFont.Weight.DemiBold)
        body_font = _font(9)
        tm, bm = QFontMetricsF(title_font), QFontMetricsF(body_font)
        inner = card.width() - 10
        body_lines = _lines(body, body_font, inner, 3 if platform != "web" else 2)
        card.setHeight(8 + (tm.lineSpacing() if title else 0) + len(body_lines) * bm.lineSpacing() + 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 235) if not dark else QColor(42, 46, 55, 240))
        if platform == "web":
            painter.setPen(QPen(QColor(0, 0, 0, 30), 1))
        painter.drawRoundedRect(card, 6, 6)
        text = QColor("#1b1c20") if not dark else QColor("#eceef3")
        y = card.top() + 5
        if title:
            painter.setFont(title_font)
            painter.setPen(text)
            painter.drawText(QPointF(card.left() + 5, y + tm.ascent()),
                             tm.elidedText(title, Qt.TextElideMode.ElideRight, inner))
            y += tm.lineSpacing()
        painter.setFont(body_font)
        painter.setPen(QColor("#5f6470") if not dark else QColor("#a3a9b6"))
        for line in body_lines:
            painter.drawText(QPointF(card.left() + 5, y + bm.ascent()), line)
            y += bm.lineSpacing()


def _lines(text: str, f: QFont, width: float, max_lines: int) -> list[str]:
    return wrapped_lines(text, f, width, max_lines)
