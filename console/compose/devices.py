"""Painted device previews: an Android phone, an iPhone lock screen and a desktop browser with a notification.

Each preview draws a ``DisplayedNotification`` (already cut to the platform's lengths, with its dropped
fields removed) the way that platform lays it out: Android's notification shade card with the large image
and the small icon, iOS's lock-screen banner with the thumbnail and the long-press actions, and a desktop
browser's notification with the site, the image and at most two action buttons. Images are not fetched
(the GUI thread does no network); a placeholder names the image's host and file instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from console.theme import Theme
from core.domain import Platform
from core.domain.display import DisplayedNotification

APP_NAME = "Herald Shop"
SITE = "shop.example"


def font(size: float, weight: QFont.Weight = QFont.Weight.Normal) -> QFont:
    """The system font at ``size`` pixels and ``weight``."""
    f = QFont()
    f.setPixelSize(max(1, round(size)))
    f.setWeight(weight)
    return f


def wrapped_lines(text: str, f: QFont, width: float, max_lines: int) -> list[str]:
    """``text`` broken into at most ``max_lines`` lines of ``width``; the last one elided when cut."""
    if not text or max_lines <= 0 or width <= 4:
        return []
    layout = QTextLayout(text, f)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    lines: list[str] = []
    layout.beginLayout()
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        lines.append(text[line.textStart(): line.textStart() + line.textLength()].rstrip("\n"))
    layout.endLayout()
    if len(lines) > max_lines:
        metrics = QFontMetricsF(f)
        rest = text[sum(len(x) for x in lines[: max_lines - 1]):].replace("\n", " ")
        lines = [*lines[: max_lines - 1], metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width)]
    return [x.rstrip() for x in lines]


def draw_text_block(painter: QPainter, x: float, y: float, width: float, text: str, f: QFont, colour: QColor,
                    max_lines: int, line_height: float | None = None) -> float:
    """Draw ``text`` wrapped at ``width`` from the top-left ``(x, y)``; returns the height used."""
    lines = wrapped_lines(text, f, width, max_lines)
    if not lines:
        return 0.0
    metrics = QFontMetricsF(f)
    step = line_height or metrics.lineSpacing()
    painter.setFont(f)
    painter.setPen(colour)
    for i, line in enumerate(lines):
        painter.drawText(QPointF(x, y + i * step + metrics.ascent()), line)
    return step * len(lines)


def host_and_file(url: str | None) -> str:
    """``cdn.example · hero.jpg`` for an image URL (what the placeholder says instead of the picture)."""
    if not url:
        return ""
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    return " · ".join(p for p in (parts.hostname or url, name) if p)


def draw_image_placeholder(painter: QPainter, rect: QRectF, url: str | None, radius: float, dark: bool) -> None:
    """A soft gradient where the notification's image goes, with a picture glyph and the image's name."""
    gradient = QLinearGradient(rect.topLeft(), rect.bottomRight())
    gradient.setColorAt(0, QColor("#ffb48a") if not dark else QColor("#7a4a3a"))
    gradient.setColorAt(1, QColor("#9a8cff") if not dark else QColor("#3e3a7a"))
    path = QPainterPath()
    path.addRoundedRect(rect, radius, radius)
    painter.fillPath(path, gradient)
    painter.save()
    painter.setClipPath(path)
    hill = QPainterPath()
    hill.moveTo(rect.left(), rect.bottom())
    hill.cubicTo(rect.left() + rect.width() * 0.3, rect.bottom() - rect.height() * 0.55,
                 rect.left() + rect.width() * 0.55, rect.bottom() - rect.height() * 0.2,
                 rect.right(), rect.bottom() - rect.height() * 0.45)
    hill.lineTo(rect.right(), rect.bottom())
    hill.closeSubpath()
    painter.fillPath(hill, QColor(255, 255, 255, 70))
    painter.setBrush(QColor(255, 255, 255, 150))
    painter.setPen(Qt.PenStyle.NoPen)
    r = min(rect.width(), rect.height()) * 0.1
    painter.drawEllipse(QPointF(rect.right() - rect.width() * 0.22, rect.top() + rect.height() * 0.3), r, r)
    label = host_and_file(url)
    if label and rect.height() > 40:
        f = font(10)
        painter.setFont(f)
        painter.setPen(QColor(255, 255, 255, 230))
        metrics = QFontMetricsF(f)
        painter.drawText(QPointF(rect.left() + 8, rect.bottom() - 8),
                         metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, rect.width() - 16))
    painter.restore()


def draw_app_icon(painter: QPainter, rect: QRectF, colour: QColor, radius: float, letter: str = "H") -> None:
    """The app's icon: a rounded square in the accent colour with a letter."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(rect, radius, radius)
    f = font(rect.height() * 0.55, QFont.Weight.DemiBold)
    painter.setFont(f)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, letter)


class DevicePreview(QWidget):
    """One platform's device with the notification on it; call ``show_notification`` to update."""

    #: The frame's width ÷ height.
    ASPECT = 0.5

    def __init__(self, platform: Platform, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.platform = platform
        self.theme = theme
        self.shown: DisplayedNotification | None = None
        self.silent = False
        self.setMinimumSize(200, 360)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setAccessibleName(f"{platform.value} preview")

    def sizeHint(self) -> QSize:
        """A phone-shaped default."""
        return QSize(250, self.heightForWidth(250))

    def hasHeightForWidth(self) -> bool:
        """The frame keeps its aspect."""
        return True

    def heightForWidth(self, width: int) -> int:
        """Tall enough for the whole frame at ``width``, within reason."""
        return min(640, round(width / self.ASPECT) + 4)

    def show_notification(self, shown: DisplayedNotification | None, *, silent: bool = False) -> None:
        """Draw ``shown`` (None with ``silent`` for a data-only push, None alone for nothing yet)."""
        self.shown = shown
        self.silent = silent
        self.update()

    # -- geometry -----------------------------------------------------------------------------------

    def frame_rect(self) -> QRectF:
        """The device's outline, centred, as large as fits with the platform's aspect."""
        area = QRectF(self.rect()).adjusted(2, 2, -2, -2)
        width = min(area.width(), area.height() * self.ASPECT)
        height = width / self.ASPECT
        return QRectF(area.center().x() - width / 2, area.top(), width, height)

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the device and its notification."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.paint_device(painter, self.frame_rect())
        painter.end()

    def paint_device(self, painter: QPainter, frame: QRectF) -> None:  # pragma: no cover - overridden
        """Draw the frame and the notification inside ``frame``."""

    def paint_placeholder(self, painter: QPainter, rect: QRectF, colour: QColor) -> None:
        """The hint drawn when there is nothing to show."""
        text = ("Silent push — nothing is shown;\nthe app receives the data" if self.silent
                else "Type a title or a body\nto see it here")
        painter.setFont(font(12))
        painter.setPen(colour)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class AndroidPreview(DevicePreview):
    """A Pixel-like phone with the notification shade pulled down."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(Platform.ANDROID, theme, parent)

    def paint_device(self, painter: QPainter, frame: QRectF) -> None:
        """Bezel, wallpaper, status bar, and the shade card (large image, small icon, no buttons)."""
        dark = self.theme.dark
        painter.setPen(QPen(QColor("#3a3d44"), 1.5))
        painter.setBrush(QColor("#121317"))
        painter.drawRoundedRect(frame, 30, 30)
        screen = frame.adjusted(7, 7, -7, -7)
        path = QPainterPath()
        path.addRoundedRect(screen, 24, 24)
        wallpaper = QLinearGradient(screen.topLeft(), screen.bottomLeft())
        wallpaper.setColorAt(0, QColor("#dfe6f5") if not dark else QColor("#202633"))
        wallpaper.setColorAt(1, QColor("#b7c4e6") if not dark else QColor("#151923"))
        painter.fillPath(path, wallpaper)
        painter.save()
        painter.setClipPath(path)
        on_wall = QColor("#1d2330") if not dark else QColor("#e6e8ee")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#0b0c0f"))
        painter.drawEllipse(QPointF(screen.center().x(), screen.top() + 14), 5, 5)
        painter.setFont(font(11, QFont.Weight.DemiBold))
        painter.setPen(on_wall)
        painter.drawText(QRectF(screen.left() + 18, screen.top() + 6, 60, 18), Qt.AlignmentFlag.AlignVCenter, "9:41")
        painter.setFont(font(10))
        painter.drawText(QRectF(screen.right() - 78, screen.top() + 6, 60, 18),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, "5G ▾ 87%")
        painter.setFont(font(13))
        painter.drawText(QRectF(screen.left() + 18, screen.top() + 34, screen.width() - 36, 20),
                         Qt.AlignmentFlag.AlignVCenter, "Mon, 2 Mar")
        card_bg = QColor("#ffffff") if not dark else QColor("#2a2e37")
        text = QColor("#1b1c20") if not dark else QColor("#eceef3")
        muted = QColor("#5f6470") if not dark else QColor("#a3a9b6")
        x0, width = screen.left() + 10, screen.width() - 20
        top = screen.top() + 64
        shown = self.shown
        if shown is None:
            self.paint_placeholder(painter, QRectF(x0, top, width, 120), on_wall)
            painter.restore()
            return
        pad = 14
        inner = width - 2 * pad
        has_icon = bool(shown.icon)
        text_width = inner - (46 if has_icon else 0)
        title_font = font(13, QFont.Weight.DemiBold)
        body_font = font(12)
        title_lines = wrapped_lines(shown.title, title_font, text_width, 2)
        body_lines = wrapped_lines(shown.body, body_font, text_width, 6)
        title_h = len(title_lines) * QFontMetricsF(title_font).lineSpacing()
        body_h = len(body_lines) * QFontMetricsF(body_font).lineSpacing()
        image_h = inner * 0.5 if shown.image else 0.0
        height = pad + 18 + 6 + title_h + (2 if body_h else 0) + body_h + (10 + image_h if image_h else 0) + pad
        card = QRectF(x0, top, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(card_bg)
        painter.drawRoundedRect(card, 20, 20)
        y = card.top() + pad
        x = card.left() + pad
        draw_app_icon(painter, QRectF(x, y, 18, 18), QColor(self.theme.accent), 9)
        painter.setFont(font(11))
        painter.setPen(muted)
        painter.drawText(QRectF(x + 24, y, inner - 40, 18), Qt.AlignmentFlag.AlignVCenter, f"{APP_NAME} • now")
        painter.drawText(QRectF(card.right() - pad - 14, y, 14, 18), Qt.AlignmentFlag.AlignCenter, "⌄")
        y += 24
        if has_icon:
            icon_rect = QRectF(card.right() - pad - 38, y + 2, 38, 38)
            draw_image_placeholder(painter, icon_rect, None, 19, dark)
        y += draw_text_block(painter, x, y, text_width, shown.title, title_font, text, 2)
        if body_h:
            y += 2
            y += draw_text_block(painter, x, y, text_width, shown.body, body_font, muted, 6)
        if image_h:
            y += 10
            draw_image_placeholder(painter, QRectF(x, y, inner, image_h), shown.image, 12, dark)
        painter.restore()


class IosPreview(DevicePreview):
    """An iPhone lock screen with the notification banner and its long-press actions."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(Platform.IOS, theme, parent)

    def paint_device(self, painter: QPainter, frame: QRectF) -> None:
        """Bezel, Dynamic Island, clock, banner (thumbnail on the right) and the actions menu."""
        dark = self.theme.dark
        painter.setPen(QPen(QColor("#3a3d44"), 1.5))
        painter.setBrush(QColor("#0e0f12"))
        painter.drawRoundedRect(frame, 38, 38)
        screen = frame.adjusted(8, 8, -8, -8)
        path = QPainterPath()
        path.addRoundedRect(screen, 31, 31)
        wallpaper = QLinearGradient(screen.topLeft(), screen.bottomRight())
        wallpaper.setColorAt(0, QColor("#3b4a8f"))
        wallpaper.setColorAt(0.55, QColor("#7b5ea7"))
        wallpaper.setColorAt(1, QColor("#e58f7b"))
        painter.fillPath(path, wallpaper)
        painter.save()
        painter.setClipPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#000000"))
        island = QRectF(screen.center().x() - 38, screen.top() + 9, 76, 22)
        painter.drawRoundedRect(island, 11, 11)
        white = QColor("#ffffff")
        painter.setPen(white)
        painter.setFont(font(12, QFont.Weight.DemiBold))
        painter.drawText(QRectF(screen.left() + 22, screen.top() + 10, 50, 20), Qt.AlignmentFlag.AlignVCenter,
                         "9:41")
        painter.setFont(font(13, QFont.Weight.Medium))
        painter.drawText(QRectF(screen.left(), screen.top() + 44, screen.width(), 18),
                         Qt.AlignmentFlag.AlignHCenter, "Monday 2 March")
        painter.setFont(font(min(64.0, screen.width() * 0.27), QFont.Weight.Light))
        painter.drawText(QRectF(screen.left(), screen.top() + 58, screen.width(), screen.width() * 0.3),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, "9:41")
        top = screen.top() + 66 + screen.width() * 0.3
        x0, width = screen.left() + 10, screen.width() - 20
        shown = self.shown
        if shown is None:
            self.paint_placeholder(painter, QRectF(x0, top, width, 110), white)
            self._home_indicator(painter, screen)
            painter.restore()
            return
        card_bg = QColor(255, 255, 255, 215) if not dark else QColor(36, 38, 46, 225)
        text = QColor("#111111") if not dark else QColor("#f2f3f6")
        muted = QColor("#555a66") if not dark else QColor("#aab0bd")
        pad = 10
        icon = 26.0
        thumb = 34.0 if shown.image else 0.0
        text_x = x0 + pad + icon + 10
        text_width = width - (text_x - x0) - pad - (thumb + 8 if thumb else 0)
        bold = font(12.5, QFont.Weight.DemiBold)
        body_font = font(12.5)
        lh = QFontMetricsF(body_font).lineSpacing()
        title_lines = wrapped_lines(shown.title, bold, text_width - 26, 1)
        subtitle_lines = wrapped_lines(shown.subtitle, bold, text_width, 1)
        body_lines = wrapped_lines(shown.body, body_font, text_width, 4)
        rows = len(title_lines) + len(subtitle_lines) + len(body_lines)
        height = max(icon, thumb + lh + 2, rows * lh) + 2 * pad
        card = QRectF(x0, top, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(card_bg)
        painter.drawRoundedRect(card, 18, 18)
        draw_app_icon(painter, QRectF(x0 + pad, card.top() + (height - icon) / 2, icon, icon),
                      QColor(self.theme.accent), 7)
        y = card.top() + pad
        painter.setFont(font(11))
        painter.setPen(muted)
        painter.drawText(QRectF(card.right() - pad - 30, y, 30, lh),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "now")
        y += draw_text_block(painter, text_x, y, text_width + (thumb + 8 if thumb else 0) - 34, shown.title, bold,
                             text, 1, lh)
        y += draw_text_block(painter, text_x, y, text_width, shown.subtitle, bold, text, 1, lh)
        draw_text_block(painter, text_x, y, text_width, shown.body, body_font, text, 4, lh)
        if thumb:
            draw_image_placeholder(painter, QRectF(card.right() - pad - thumb, card.top() + pad + lh + 2,
                                                   thumb, thumb), None, 8, dark)
        if shown.buttons:
            painter.setFont(font(10))
            painter.setPen(QColor(255, 255, 255, 200))
            hint_y = card.bottom() + 10
            painter.drawText(QRectF(x0, hint_y, width, 14), Qt.AlignmentFlag.AlignHCenter, "Press and hold")
            menu_w = width * 0.72
            row = 34.0
            menu = QRectF(card.right() - menu_w, hint_y + 18, menu_w, row * len(shown.buttons))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(card_bg)
            painter.drawRoundedRect(menu, 12, 12)
            label_font = font(12.5)
            metrics = QFontMetricsF(label_font)
            for i, button in enumerate(shown.buttons):
                r = QRectF(menu.left() + 14, menu.top() + i * row, menu.width() - 28, row)
                if i:
                    painter.setPen(QPen(QColor(128, 128, 128, 90), 0.8))
                    painter.drawLine(QPointF(menu.left(), r.top()), QPointF(menu.right(), r.top()))
                painter.setFont(label_font)
                painter.setPen(text)
                painter.drawText(r, Qt.AlignmentFlag.AlignVCenter,
                                 metrics.elidedText(button.label, Qt.TextElideMode.ElideRight, r.width()))
        self._home_indicator(painter, screen)
        painter.restore()

    @staticmethod
    def _home_indicator(painter: QPainter, screen: QRectF) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 220))
        painter.drawRoundedRect(QRectF(screen.center().x() - 50, screen.bottom() - 12, 100, 4.5), 2.25, 2.25)


class WebPreview(DevicePreview):
    """A desktop browser window with the site's notification in the corner."""

    ASPECT = 0.62

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(Platform.WEB, theme, parent)

    def paint_device(self, painter: QPainter, frame: QRectF) -> None:
        """Window chrome, a sketch of the page, and the notification (icon, site, image, two actions)."""
        dark = self.theme.dark
        chrome = QColor("#e7e9ee") if not dark else QColor("#2b2f38")
        page = QColor("#ffffff") if not dark else QColor("#1c1f25")
        sketch = QColor("#eef0f4") if not dark else QColor("#272b33")
        painter.setPen(QPen(QColor("#c9cdd6") if not dark else QColor("#3b404b"), 1))
        painter.setBrush(page)
        painter.drawRoundedRect(frame, 10, 10)
        bar = QRectF(frame.left(), frame.top(), frame.width(), 34)
        bar_path = QPainterPath()
        bar_path.addRoundedRect(bar, 10, 10)
        bar_path.addRect(QRectF(bar.left(), bar.top() + 17, bar.width(), 17))
        painter.fillPath(bar_path.simplified(), chrome)
        for i, colour in enumerate(("#ff5f57", "#febc2e", "#28c840")):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colour))
            painter.drawEllipse(QPointF(bar.left() + 14 + i * 14, bar.center().y()), 4.5, 4.5)
        address = QRectF(bar.left() + 58, bar.top() + 7, bar.width() - 70, 20)
        painter.setBrush(page)
        painter.drawRoundedRect(address, 10, 10)
        painter.setFont(font(10.5))
        painter.setPen(QColor(self.theme.text_muted))
        painter.drawText(address.adjusted(10, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter, SITE)
        content = frame.adjusted(16, 34 + 16, -16, -16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(sketch)
        painter.drawRoundedRect(QRectF(content.left(), content.top(), content.width() * 0.45, 14), 4, 4)
        painter.drawRoundedRect(QRectF(content.left(), content.top() + 26, content.width(), content.height() * 0.3),
                                8, 8)
        for i in range(6):
            w = content.width() * (0.9 if i % 3 else 0.65)
            painter.drawRoundedRect(QRectF(content.left(), content.top() + 40 + content.height() * 0.3 + i * 18,
                                           w, 9), 4, 4)
        shown = self.shown
        if shown is None:
            self.paint_placeholder(painter, content, QColor(self.theme.text_muted))
            return
        text = QColor("#1d2330") if not dark else QColor("#eceef3")
        muted = QColor("#626a78") if not dark else QColor("#a3a9b6")
        width = frame.width() - 24
        pad = 12
        icon = 36.0
        text_x_off = pad + icon + 10
        text_width = width - text_x_off - pad
        bold = font(12.5, QFont.Weight.DemiBold)
        body_font = font(12)
        lh = QFontMetricsF(body_font).lineSpacing()
        title_lines = wrapped_lines(shown.title, bold, text_width, 2)
        body_lines = wrapped_lines(shown.body, body_font, text_width, 3)
        text_h = (len(title_lines) + len(body_lines) + 1) * lh
        image_h = (width - 2 * pad) * 0.5 if shown.image else 0.0
        buttons_h = 30.0 if shown.buttons else 0.0
        height = pad + max(icon, text_h) + (10 + image_h if image_h else 0) + (10 + buttons_h if buttons_h else 0) \
            + pad
        card = QRectF(frame.right() - 12 - width, frame.bottom() - 12 - height, width, height)
        painter.setPen(QPen(QColor(0, 0, 0, 40) if not dark else QColor("#3b404b"), 1))
        painter.setBrush(QColor("#fbfbfc") if not dark else QColor("#2a2e37"))
        painter.drawRoundedRect(card, 10, 10)
        icon_rect = QRectF(card.left() + pad, card.top() + pad, icon, icon)
        if shown.icon:
            draw_image_placeholder(painter, icon_rect, None, 8, dark)
        else:
            draw_app_icon(painter, icon_rect, QColor(self.theme.accent), 8)
        x = card.left() + text_x_off
        y = card.top() + pad
        y += draw_text_block(painter, x, y, text_width, shown.title, bold, text, 2, lh)
        painter.setFont(font(10.5))
        painter.setPen(muted)
        painter.drawText(QPointF(x, y + QFontMetricsF(font(10.5)).ascent()), f"{SITE} · Chrome")
        y += lh
        y += draw_text_block(painter, x, y, text_width, shown.body, body_font, text, 3, lh)
        y = max(y, card.top() + pad + icon)
        if image_h:
            y += 10
            draw_image_placeholder(painter, QRectF(card.left() + pad, y, width - 2 * pad, image_h), shown.image, 6,
                                   dark)
            y += image_h
        if buttons_h:
            y += 10
            gap = 8.0
            count = len(shown.buttons)
            bw = (width - 2 * pad - gap * (count - 1)) / count
            label_font = font(12, QFont.Weight.Medium)
            metrics = QFontMetricsF(label_font)
            for i, button in enumerate(shown.buttons):
                r = QRectF(card.left() + pad + i * (bw + gap), y, bw, buttons_h)
                painter.setPen(QPen(QColor(0, 0, 0, 35) if not dark else QColor("#454b57"), 1))
                painter.setBrush(QColor("#eef0f4") if not dark else QColor("#343944"))
                painter.drawRoundedRect(r, 6, 6)
                painter.setFont(label_font)
                painter.setPen(text)
                painter.drawText(r, Qt.AlignmentFlag.AlignCenter,
                                 metrics.elidedText(button.label, Qt.TextElideMode.ElideRight, r.width() - 12))


def preview_for(platform: Platform, theme: Theme) -> DevicePreview:
    """The preview widget of ``platform``."""
    kinds: dict[Platform, type[AndroidPreview] | type[IosPreview] | type[WebPreview]] = {
        Platform.ANDROID: AndroidPreview, Platform.IOS: IosPreview, Platform.WEB: WebPreview,
    }
    return kinds[platform](theme)
