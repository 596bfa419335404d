"""SVG icons from ``resources/icons``, recoloured for the theme (their strokes use ``currentColor``)."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

import resources


@cache
def _svg(name: str) -> str:
    return resources.path("icons", f"{name}.svg").read_text()


def pixmap(name: str, colour: str, size: int = 20, ratio: float = 2.0) -> QPixmap:
    """The icon ``name`` drawn in ``colour`` at ``size`` logical pixels."""
    renderer = QSvgRenderer(QByteArray(_svg(name).replace("currentColor", colour).encode()))
    pm = QPixmap(QSize(int(size * ratio), int(size * ratio)))
    pm.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size * ratio, size * ratio))
    painter.end()
    pm.setDevicePixelRatio(ratio)
    return pm


def icon(name: str, colour: str, selected_colour: str | None = None) -> QIcon:
    """A QIcon with a normal and (optionally) a selected-state colour."""
    result = QIcon()
    result.addPixmap(pixmap(name, colour), QIcon.Mode.Normal)
    if selected_colour is not None:
        result.addPixmap(pixmap(name, selected_colour), QIcon.Mode.Selected)
    return result
