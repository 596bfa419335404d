"""The live campaign dashboard: big numbers, per-second curves, progress and the live controls.

It shows one campaign. Opening it asks the engine for the campaign's timeline (per-second history) and
figures; while the campaign is live a one-second timer, and every progress or state event from the
``EventBridge``, ask for fresh figures (never more than one request in flight). The curves grow from the
difference between successive figures, bucketed by the wall-clock second — cheap for any audience size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from console.bridge import Host, readable
from console.theme import Theme
from console.widgets.page import Page
from console.widgets.stat_card import StatCard
from core.campaigns.figures import SERIES, CampaignFigures, CampaignTimeline
from core.domain import CampaignState
from core.sending.progress import CampaignStateChanged, ProviderProgress

CARDS = ("sent", "delivered", "displayed", "clicked", "converted", "revenue")
#: How many seconds of curve the chart keeps (older points scroll away).
WINDOW_SECONDS = 600
RECALL_TOOLTIP = "Recall arrives with the Recall issue: it will withdraw messages already on devices."


def pct(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole`` ("97.2 %"), or an em dash."""
    return f"{part / whole * 100:.1f} %" if whole else "—"


class DashboardPage(Page):
    """One campaign, live.

    Signals:
        back_requested(): the person wants the campaign list again.
    """

    back_requested = Signal()

    def __init__(self, host: Host, session: Any, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__("Campaign", "", parent)
        self._host = host
        self._session = session
        self._theme = theme
        self.campaign_id: int | None = None
        self.figures: CampaignFigures | None = None
        self._in_flight = False
        self._origin: int | None = None
        self._series: dict[str, list[float]] = {name: [] for name in SERIES}
        self._last: dict[str, int] = {}
        self._rate_window: list[tuple[float, int]] = []
        self.rate = 0.0
        recall = self.set_primary_action("Recall", RECALL_TOOLTIP)
        recall.setEnabled(False)
        self.back = QPushButton("← All campaigns")
        self.back.setToolTip("Back to the campaign list (Esc)")
        self.back.clicked.connect(self.back_requested.emit)
        self._header.insertWidget(0, self.back, 0, Qt.AlignmentFlag.AlignTop)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.back_requested.emit)

        self.cards = {key: StatCard(key.capitalize()) for key in CARDS}
        grid = QGridLayout()
        grid.setSpacing(16)
        for i, key in enumerate(CARDS):
            self.cards[key].value.setObjectName("CardValueLarge")
            self.cards[key].setMinimumWidth(150)
            grid.addWidget(self.cards[key], 0, i)
        self.body.addLayout(grid)

        controls = QHBoxLayout()
        controls.setSpacing(8)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress_label = QLabel("", objectName="Muted")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop sending; messages in flight still arrive")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button = QPushButton("Cancel sending", objectName="Danger")
        self.cancel_button.setToolTip("Cancel every message that has not left yet")
        self.cancel_button.clicked.connect(self._cancel)
        bar = QVBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(self.progress_label)
        bar.addWidget(self.progress)
        controls.addLayout(bar, 1)
        controls.addSpacing(16)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.cancel_button)
        self.body.addLayout(controls)
        self.message = QLabel("", objectName="Inline")
        self.message.setWordWrap(True)
        self.message.hide()
        self.body.addWidget(self.message)

        self.chart = self._make_chart()
        self.readout = QLabel("Hover the chart to read a second's figures.", objectName="Muted")
        self.body.addWidget(self.readout)
        self.body.addWidget(self.chart, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)

    # ---------------------------------------------------------------------------------------- chart

    def _make_chart(self) -> pg.PlotWidget:
        t = self._theme
        chart = pg.PlotWidget(background=t.surface)
        chart.setMinimumHeight(220)
        plot = chart.getPlotItem()
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(pg.mkPen(t.border))
            axis.setTextPen(pg.mkPen(t.text_muted))
        plot.setLabel("left", "messages per second", color=t.text_muted)
        plot.setLabel("bottom", "time since the first message", units="s", color=t.text_muted)
        legend = plot.addLegend(offset=(12, 8), labelTextColor=t.text, brush=pg.mkBrush(t.surface),
                                pen=pg.mkPen(t.border))
        legend.setColumnCount(4)
        colours = {"sent": t.sent, "delivered": t.delivered, "displayed": t.displayed, "clicked": t.clicked}
        self.curves = {
            name: plot.plot([], [], name=name.capitalize(), pen=pg.mkPen(colours[name], width=2), antialias=True)
            for name in SERIES
        }
        chart.scene().sigMouseMoved.connect(self._hover)
        return chart

    def _hover(self, position: QPointF) -> None:
        plot = self.chart.getPlotItem()
        if not plot.sceneBoundingRect().contains(position):
            return
        second = round(plot.vb.mapSceneToView(position).x())
        if second < 0 or self._origin is None:
            return
        parts = [f"{name} {int(self._series[name][second]) if second < len(self._series[name]) else 0:,}/s"
                 for name in SERIES]
        self.readout.setText(f"Second {second}: " + " · ".join(parts))

    def _redraw(self) -> None:
        for name, curve in self.curves.items():
            values = self._series[name]
            first = max(0, len(values) - WINDOW_SECONDS)
            curve.setData(list(range(first, len(values))), values[first:])

    # ------------------------------------------------------------------------------------- showing

    def show_campaign(self, campaign_id: int) -> None:
        """Show campaign ``campaign_id``: load its history and figures, then follow it while it is live."""
        self.campaign_id = campaign_id
        self.figures = None
        self._origin = None
        self._series = {name: [] for name in SERIES}
        self._last = {}
        self._rate_window = []
        self.rate = 0.0
        self.title_label.setText("Campaign")
        self.set_context("Loading…")
        for card in self.cards.values():
            card.set_value("—")
        self._redraw()
        self._show_message(None)
        self._host.submit(lambda: self._session.timeline(campaign_id),
                          lambda t: self._apply_timeline(campaign_id, t), self._failed)
        self.refresh()

    def _apply_timeline(self, campaign_id: int, timeline: CampaignTimeline) -> None:
        if campaign_id != self.campaign_id or timeline.start is None:
            return
        self._origin = int(timeline.start.timestamp())
        self._series = {name: [float(v) for v in timeline.series.get(name, [])] for name in SERIES}
        self._redraw()

    def refresh(self) -> None:
        """Ask for fresh figures (skipped while an earlier request is still out)."""
        if self.campaign_id is None or self._in_flight:
            return
        self._in_flight = True
        campaign_id = self.campaign_id

        def done(figures: CampaignFigures) -> None:
            self._in_flight = False
            if figures.campaign_id == self.campaign_id:
                self.apply_figures(figures)

        def failed(error: BaseException) -> None:
            self._in_flight = False
            self._failed(error)

        self._host.submit(lambda: self._session.figures(campaign_id), done, failed)

    def apply_figures(self, f: CampaignFigures) -> None:
        """Show ``f``: cards, progress, buttons, and the second's growth on the curves."""
        self.figures = f
        self.title_label.setText(f.name)
        self.cards["sent"].set_value(f.sent, f"of {f.targeted:,} targeted" if f.targeted else "nothing queued yet")
        self.cards["delivered"].set_value(f.delivered, f"{pct(f.delivered, f.sent)} of sent")
        self.cards["displayed"].set_value(f.displayed, f"{pct(f.displayed, f.delivered)} of delivered")
        self.cards["clicked"].set_value(f.clicked, f"CTR {pct(f.clicked, f.delivered)}")
        self.cards["converted"].set_value(f.converted, f"{pct(f.converted, f.clicked)} of clicks")
        self.cards["revenue"].set_value(f"{f.revenue:,.2f}",
                                        f"{f.revenue / f.converted:,.2f} per conversion" if f.converted else "")
        self.progress.setMaximum(max(f.targeted, 1))
        self.progress.setValue(f.finished)
        rate = f" · {self.rate:,.0f} messages/s" if f.state is CampaignState.SENDING and self.rate else ""
        failed = f" · {f.failed:,} failed" if f.failed else ""
        cancelled = f" · {f.cancelled:,} cancelled" if f.cancelled else ""
        skipped = f.finished - f.sent - f.failed - f.cancelled
        cancelled += f" · {skipped:,} skipped (no consent or duplicate)" if skipped > 0 else ""
        self.progress_label.setText(f"{f.finished:,} of {f.targeted:,} handled{failed}{cancelled}{rate}")
        self.set_context(f"{f.state.value.capitalize()} · {f.targeted:,} devices")
        self._update_controls(f.state)
        self._grow(f)
        # Devices keep reporting displays, clicks and purchases long after the last send: follow while shown.
        if f.state is not CampaignState.DRAFT and self.isVisible() and not self.timer.isActive():
            self.timer.start()

    def _grow(self, f: CampaignFigures) -> None:
        now = int(time.time())
        totals = {name: int(getattr(f, name)) for name in SERIES}
        if self._origin is None:
            if not f.sent:
                self._last = totals
                return
            self._origin = now
        second = now - self._origin
        longest = max(len(v) for v in self._series.values())
        if second < 0 or second > longest + WINDOW_SECONDS:
            # An old campaign whose devices still report: the history is drawn, late reports are not.
            self._last = totals
            return
        for name in SERIES:
            values = self._series[name]
            if len(values) <= second:
                values.extend([0.0] * (second + 1 - len(values)))
            delta = totals[name] - self._last.get(name, 0) if self._last else 0
            if delta > 0:
                values[second] += delta
        self._last = totals
        self._redraw()

    def _update_controls(self, state: CampaignState) -> None:
        live = state in (CampaignState.SENDING, CampaignState.PAUSED)
        self.pause_button.setEnabled(live)
        self.pause_button.setText("Resume" if state is CampaignState.PAUSED else "Pause")
        self.cancel_button.setEnabled(live)

    # ---------------------------------------------------------------------------------------- events

    def on_progress(self, event: ProviderProgress) -> None:
        """A provider lane's second of work: update the sending rate and ask for figures."""
        now = time.monotonic()
        self._rate_window = [(t, n) for t, n in self._rate_window if now - t < 3.0]
        self._rate_window.append((now, event.sent))
        span = max((event.end - event.start).total_seconds(), 1.0)
        self.rate = sum(n for _, n in self._rate_window) / max(span, min(3.0, len(self._rate_window)))
        if self.isVisible() or self.timer.isActive():
            self.refresh()

    def on_campaign_state(self, event: CampaignStateChanged) -> None:
        """The shown campaign changed state: follow it."""
        if event.campaign_id == self.campaign_id:
            self._update_controls(event.state)
            self.refresh()
            if event.state in (CampaignState.SENDING, CampaignState.PAUSED) and not self.timer.isActive():
                self.timer.start()

    # --------------------------------------------------------------------------------------- actions

    def _act(self, what: str, work: Callable[[], object]) -> None:
        self.pause_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self._host.submit(work, lambda _: self.refresh(), lambda e: (self._failed(e, what), self.refresh()))

    def _toggle_pause(self) -> None:
        if self.figures is None or self.campaign_id is None:
            return
        campaign_id = self.campaign_id
        if self.figures.state is CampaignState.PAUSED:
            self._act("resume", lambda: self._session.resume(campaign_id))
        else:
            self._act("pause", lambda: self._session.pause(campaign_id))

    def _cancel(self) -> None:
        if self.campaign_id is None:
            return
        campaign_id = self.campaign_id
        self._act("cancel", lambda: self._session.cancel(campaign_id))

    def _failed(self, error: BaseException, what: str = "load") -> None:
        self._show_message(f"Could not {what} this campaign: {readable(error)}")

    def _show_message(self, text: str | None) -> None:
        self.message.setVisible(bool(text))
        self.message.setText(text or "")

    def hideEvent(self, event: Any) -> None:
        """Stop polling while nobody looks."""
        self.timer.stop()
        super().hideEvent(event)

    def showEvent(self, event: Any) -> None:
        """Follow again when shown."""
        super().showEvent(event)
        if self.campaign_id is not None:
            self.refresh()
            self.timer.start()
