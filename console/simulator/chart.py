"""The fleet's live chart: messages received, displayed and clicked per second over the last minute.

Drawn with pyqtgraph in the theme's colours (received in a neutral grey, displayed green, clicked blue —
the same semantic colours as every other chart), with a legend, axis labels with units and a hover read-out.
"""

from __future__ import annotations

import time
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QWidget

from console.theme import Theme

SERIES = ("received", "displayed", "clicked")
WINDOW_S = 60


class FleetChart(pg.PlotWidget):  # type: ignore[misc]
    """Per-second counts of the fleet; ``show_series`` takes ``/control/stats``'s ``per_second`` rows."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=theme.surface)
        self.theme = theme
        pg.setConfigOptions(antialias=True)
        item = self.getPlotItem()
        item.showGrid(x=False, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(pg.mkPen(theme.border))
            axis.setTextPen(pg.mkPen(theme.text_muted))
        item.setLabel("left", "messages / s", color=theme.text_muted)
        item.setLabel("bottom", "seconds ago", color=theme.text_muted)
        self.setXRange(-WINDOW_S, 0, padding=0.01)
        self.legend = item.addLegend(offset=(8, 4), labelTextColor=theme.text, brush=pg.mkBrush(theme.surface))
        colours = {"received": theme.text_muted, "displayed": theme.delivered, "clicked": theme.clicked}
        self.curves = {
            name: item.plot([], [], name=name.capitalize(), pen=pg.mkPen(colours[name], width=2))
            for name in SERIES
        }
        self.readout = pg.TextItem(color=theme.text, anchor=(1, 0))
        self.readout.setZValue(10)
        item.addItem(self.readout, ignoreBounds=True)
        self.values: dict[str, list[float]] = {name: [0.0] * (WINDOW_S + 1) for name in SERIES}
        self.scene().sigMouseMoved.connect(self._hover)
        self.setMinimumHeight(150)

    def show_series(self, per_second: list[dict[str, Any]], now: float | None = None) -> None:
        """Plot the last minute; seconds with nothing in them count as zero."""
        now_s = int(now if now is not None else time.time())
        by_second = {int(row.get("t", 0)): row for row in per_second}
        xs = list(range(-WINDOW_S, 1))
        for name in SERIES:
            ys = [float(by_second.get(now_s + x, {}).get(name, 0)) for x in xs]
            self.values[name] = ys
            self.curves[name].setData(xs, ys)
        peak = max(max(v) for v in self.values.values())
        self.setYRange(0, max(5.0, peak * 1.15), padding=0)

    def _hover(self, position: QPointF) -> None:
        item = self.getPlotItem()
        if not item.sceneBoundingRect().contains(position):
            self.readout.setText("")
            return
        x = item.vb.mapSceneToView(position).x()
        index = max(0, min(WINDOW_S, round(x) + WINDOW_S))
        parts = [f"{name} {self.values[name][index]:.0f}" for name in SERIES]
        self.readout.setText(f"{index - WINDOW_S} s: " + " · ".join(parts))
        self.readout.setPos(0, item.vb.viewRange()[1][1])
