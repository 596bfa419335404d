"""Fault injection controls: make one provider service throttle, fail, stall or reset connections.

The panel edits one service's settings at a time (``oauth``, ``fcm``, ``apns``, ``webpush``) and asks for
them to be applied through a signal; the page PUTs them to ``/control/faults/{service}`` on the engine thread.

Signals:
    apply_requested(str, object): the service and the changes (``{"rate_429": 0.1, "retry_after_s": 2, …}``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

SERVICES = {"fcm": "FCM", "apns": "APNs", "webpush": "Web Push", "oauth": "OAuth (FCM tokens)"}


def _percent() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0, 100)
    spin.setDecimals(1)
    spin.setSingleStep(1)
    spin.setSuffix(" %")
    return spin


class FaultPanel(QWidget):
    """One service's fault settings with Apply and Clear; see the module docstring."""

    apply_requested = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings: dict[str, dict[str, Any]] = {}
        self.service = QComboBox()
        for key, label in SERVICES.items():
            self.service.addItem(label, key)
        self.service.currentIndexChanged.connect(self._show_current)
        self.rate_429 = _percent()
        self.retry_after = QSpinBox()
        self.retry_after.setRange(0, 3600)
        self.retry_after.setSuffix(" s")
        self.rate_500 = _percent()
        self.rate_503 = _percent()
        self.reset_rate = _percent()
        self.latency = QSpinBox()
        self.latency.setRange(0, 60_000)
        self.latency.setSingleStep(50)
        self.latency.setSuffix(" ms")
        form = QFormLayout()
        form.setSpacing(8)
        form.addRow("Service", self.service)
        form.addRow("429 Too Many Requests", self.rate_429)
        form.addRow("Retry-After", self.retry_after)
        form.addRow("500 Internal error", self.rate_500)
        form.addRow("503 Unavailable", self.rate_503)
        form.addRow("Connection resets", self.reset_rate)
        form.addRow("Added latency", self.latency)
        self.apply = QPushButton("Apply")
        self.apply.setToolTip("Send these settings to the simulator's service")
        self.apply.clicked.connect(self._apply)
        self.clear = QPushButton("Clear faults")
        self.clear.setToolTip("Turn every fault of this service off")
        self.clear.clicked.connect(self._clear)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.clear)
        buttons.addWidget(self.apply)
        self.state = QLabel(objectName="PageContext")
        self.state.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.state)
        layout.addStretch(1)

    def current_service(self) -> str:
        """The service being edited."""
        return str(self.service.currentData())

    def changes(self) -> dict[str, Any]:
        """The settings in the form, as the control API takes them."""
        latency_ms = self.latency.value()
        return {
            "rate_429": round(self.rate_429.value() / 100, 4),
            "retry_after_s": self.retry_after.value(),
            "rate_500": round(self.rate_500.value() / 100, 4),
            "rate_503": round(self.rate_503.value() / 100, 4),
            "reset_rate": round(self.reset_rate.value() / 100, 4),
            "latency": {"kind": "fixed", "seconds": latency_ms / 1000} if latency_ms else {"kind": "none"},
        }

    def _apply(self) -> None:
        self.apply_requested.emit(self.current_service(), self.changes())

    def _clear(self) -> None:
        for spin in (self.rate_429, self.rate_500, self.rate_503, self.reset_rate):
            spin.setValue(0)
        self.latency.setValue(0)
        self._apply()

    def show_settings(self, settings: dict[str, dict[str, Any]]) -> None:
        """Every service's current settings (``GET /control/faults``)."""
        self.settings = dict(settings)
        self._show_current()

    def show_applied(self, service: str, applied: dict[str, Any]) -> None:
        """One service's settings as the simulator now has them."""
        self.settings[service] = applied
        if service == self.current_service():
            self._show_current()

    def show_error(self, message: str) -> None:
        """Say why the settings were refused."""
        self.state.setText(message)

    def _show_current(self) -> None:
        found = self.settings.get(self.current_service())
        if found is None:
            self.state.setText("")
            return
        self.rate_429.setValue(100 * float(found.get("rate_429", 0)))
        self.retry_after.setValue(int(found.get("retry_after_s", 1)))
        self.rate_500.setValue(100 * float(found.get("rate_500", 0)))
        self.rate_503.setValue(100 * float(found.get("rate_503", 0)))
        self.reset_rate.setValue(100 * float(found.get("reset_rate", 0)))
        latency = found.get("latency") or {}
        seconds = float(latency.get("seconds") or latency.get("median") or latency.get("high") or 0)
        self.latency.setValue(round(seconds * 1000) if latency.get("kind", "none") != "none" else 0)
        self.state.setText(self.describe(found))

    @staticmethod
    def describe(settings: dict[str, Any]) -> str:
        """``Active: 10 % 429 (Retry-After 2 s), 200 ms latency`` or ``No faults``."""
        parts = []
        if settings.get("rate_429"):
            parts.append(f"{settings['rate_429']:.0%} 429 (Retry-After {settings.get('retry_after_s', 1)} s)")
        for key, label in (("rate_500", "500"), ("rate_503", "503"), ("reset_rate", "resets"),
                           ("rate_auth_error", "auth errors")):
            if settings.get(key):
                parts.append(f"{settings[key]:.0%} {label}")
        latency = settings.get("latency") or {}
        if latency.get("kind", "none") != "none":
            parts.append(f"{latency.get('kind')} latency")
        return ("Active: " + ", ".join(parts)) if parts else "No faults: every request is answered normally."
