"""The send flow: audience, when, Fast Push, then a confirmation with the concrete reach and profile.

Two steps in one dialog. The options step recounts the reach on the engine thread as the audience
changes; the confirmation says exactly what will happen ("Send to 1,234 devices on the simulator
profile?"). Ctrl+Enter moves forward (review, then send); Esc closes.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from console.bridge import Host, readable
from core.campaigns.definition import Audience
from core.campaigns.queries import Reach
from core.providers.profiles import ProfileKind
from core.sending.engine import StartResult

LATER_TOOLTIP = "Scheduling arrives in a later release; for now a campaign is sent when you confirm."
FAST_TOOLTIP = ("Fast Push: highest priority on every platform, connections opened before the first message, "
                "the first message leaves at once.")


def parse_ids(text: str) -> tuple[str, ...]:
    """User ids separated by commas, spaces or new lines, without duplicates."""
    return tuple(dict.fromkeys(part for part in re.split(r"[\s,;]+", text) if part))


def reach_text(reach: Reach) -> str:
    """"1,234 devices (android 600 · ios 400 · web 234)"."""
    platforms = " · ".join(f"{p} {n:,}" for p, n in sorted(reach.by_platform.items()))
    return f"{reach.devices:,} device{'s' if reach.devices != 1 else ''}" + (f" ({platforms})" if platforms else "")


class SendDialog(QDialog):
    """Send one campaign.

    Signals:
        sent(object): the engine accepted the send; carries the ``StartResult``.
    """

    sent = Signal(object)

    def __init__(self, host: Host, session: Any, campaign_id: int, campaign_name: str, audience: Audience,
                 profile: str | None, profile_kind: ProfileKind | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Send “{campaign_name}”")
        self.setMinimumWidth(560)
        self._host = host
        self._session = session
        self.campaign_id = campaign_id
        self.profile = profile
        self.profile_kind = profile_kind
        self.reach: Reach | None = None
        self._reach_for: Audience | None = None

        self.steps = QStackedWidget()
        self.steps.addWidget(self._options_step(campaign_name, audience))
        self.steps.addWidget(self._confirm_step())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.addWidget(self.steps)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.forward)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.forward)
        self._recount = QTimer(self, singleShot=True, interval=250)
        self._recount.timeout.connect(self.count_reach)
        self.count_reach()

    # ---------------------------------------------------------------------------------------- steps

    def _options_step(self, name: str, audience: Audience) -> QWidget:
        page = QWidget()
        form = QVBoxLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        form.setSpacing(12)
        form.addWidget(QLabel(f"Send “{name}”", objectName="SectionTitle"))
        form.addWidget(QLabel("Audience", objectName="CardLabel"))
        self.all_devices = QRadioButton("All reachable devices")
        self.listed = QRadioButton("Devices of these users (ids, one per line or comma-separated):")
        group = QButtonGroup(self)
        group.addButton(self.all_devices)
        group.addButton(self.listed)
        self.ids = QPlainTextEdit()
        self.ids.setPlaceholderText("u-000001, u-000002 …")
        self.ids.setFixedHeight(72)
        if audience.all_devices:
            self.all_devices.setChecked(True)
        else:
            self.listed.setChecked(True)
            self.ids.setPlainText("\n".join(audience.external_ids))
        self.ids.setEnabled(self.listed.isChecked())
        self.all_devices.toggled.connect(self._audience_changed)
        self.ids.textChanged.connect(self._audience_changed)
        self.reach_label = QLabel("Counting the reach…", objectName="Muted")
        for widget in (self.all_devices, self.listed, self.ids, self.reach_label):
            form.addWidget(widget)
        form.addWidget(QLabel("When", objectName="CardLabel"))
        when = QHBoxLayout()
        self.now = QRadioButton("Now")
        self.now.setChecked(True)
        self.later = QRadioButton("Later…")
        self.later.setEnabled(False)
        self.later.setToolTip(LATER_TOOLTIP)
        when.addWidget(self.now)
        when.addWidget(self.later)
        when.addStretch(1)
        form.addLayout(when)
        self.fast = QCheckBox("Fast Push")
        self.fast.setToolTip(FAST_TOOLTIP)
        form.addWidget(self.fast)
        profile_row = QHBoxLayout()
        profile_row.addWidget(QLabel(f"Provider profile: <b>{self.profile or 'none'}</b>"))
        badge = self._badge()
        if badge is not None:
            profile_row.addWidget(badge)
        profile_row.addStretch(1)
        form.addLayout(profile_row)
        self.options_error = QLabel("", objectName="Inline")
        self.options_error.setWordWrap(True)
        form.addWidget(self.options_error)
        form.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        close = QPushButton("Cancel")
        close.clicked.connect(self.reject)
        self.review_button = QPushButton("Review…", objectName="Primary")
        self.review_button.setToolTip("Check what will be sent (Ctrl+Enter)")
        self.review_button.setDefault(True)
        self.review_button.clicked.connect(self.review)
        buttons.addWidget(close)
        buttons.addWidget(self.review_button)
        form.addLayout(buttons)
        return page

    def _badge(self) -> QLabel | None:
        if self.profile_kind is ProfileKind.SIMULATOR:
            return QLabel("SIMULATOR", objectName="SimBadge")
        if self.profile_kind is ProfileKind.PRODUCTION:
            return QLabel("PRODUCTION · REAL DEVICES", objectName="ProdBadge")
        return None

    def _confirm_step(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(16)
        self.question = QLabel("", objectName="SectionTitle")
        self.question.setWordWrap(True)
        self.detail = QLabel("", objectName="Muted")
        self.detail.setWordWrap(True)
        self.send_error = QLabel("", objectName="Inline")
        self.send_error.setWordWrap(True)
        layout.addWidget(self.question)
        layout.addWidget(self.detail)
        layout.addWidget(self.send_error)
        layout.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        back = QPushButton("Back")
        back.clicked.connect(lambda: self.steps.setCurrentIndex(0))
        self.send_button = QPushButton("Send", objectName="Primary")
        self.send_button.setToolTip("Send now (Ctrl+Enter)")
        self.send_button.clicked.connect(self.confirm)
        buttons.addWidget(back)
        buttons.addWidget(self.send_button)
        layout.addLayout(buttons)
        return page

    # ---------------------------------------------------------------------------------------- logic

    def audience(self) -> Audience:
        """The audience as chosen now."""
        if self.all_devices.isChecked():
            return Audience(all_devices=True)
        return Audience(external_ids=parse_ids(self.ids.toPlainText()))

    def _audience_changed(self) -> None:
        self.ids.setEnabled(self.listed.isChecked())
        self.reach = None
        self.reach_label.setText("Counting the reach…")
        self._recount.start()

    def count_reach(self) -> None:
        """Count the chosen audience's reachable devices on the engine thread."""
        audience = self.audience()
        self._reach_for = audience

        def done(reach: Reach) -> None:
            if audience == self._reach_for:
                self.reach = reach
                self.reach_label.setText(f"Reach: {reach_text(reach)}")

        def failed(error: BaseException) -> None:
            self.reach_label.setText(f"The reach could not be counted: {readable(error)}")

        self._host.submit(lambda: self._session.reach(audience), done, failed)

    def forward(self) -> None:
        """Ctrl+Enter: review from the options, send from the confirmation."""
        if self.steps.currentIndex() == 0:
            self.review()
        elif self.send_button.isEnabled():
            self.confirm()

    def review(self) -> None:
        """Go to the confirmation, or say inline why not."""
        audience = self.audience()
        if not audience.all_devices and not audience.external_ids:
            self.options_error.setText("List at least one user id, or choose all reachable devices.")
            return
        if self.profile is None:
            self.options_error.setText("No provider profile is active: choose one in Settings → Provider profiles.")
            return
        if self.reach is None or audience != self._reach_for:
            self.options_error.setText("Still counting the reach; try again in a moment.")
            self.count_reach()
            return
        if self.reach.devices == 0:
            self.options_error.setText("This audience has no reachable device: nothing would be sent.")
            return
        self.options_error.setText("")
        self.question.setText(f"Send to {self.reach.devices:,} device{'s' if self.reach.devices != 1 else ''} "
                              f"on the {self.profile} profile?")
        lines = [f"Reach: {reach_text(self.reach)}."]
        if self.profile_kind is ProfileKind.PRODUCTION:
            lines.append("This is a production profile: the messages go to real phones and browsers.")
        else:
            lines.append("The simulator's virtual devices receive it; no real phone is reached.")
        lines.append("Fast Push is on: highest priority, first message at once." if self.fast.isChecked()
                     else "Normal priority.")
        self.detail.setText(" ".join(lines))
        self.send_error.setText("")
        self.send_button.setEnabled(True)
        self.steps.setCurrentIndex(1)
        self.send_button.setFocus()

    def confirm(self) -> None:
        """Send: the engine writes the outbox and starts; the dialog closes when it has."""
        audience, fast, campaign_id = self.audience(), self.fast.isChecked(), self.campaign_id
        self.send_button.setEnabled(False)
        self.send_button.setText("Sending…")

        def done(result: StartResult) -> None:
            self.sent.emit(result)
            self.accept()

        def failed(error: BaseException) -> None:
            self.send_button.setEnabled(True)
            self.send_button.setText("Send")
            self.send_error.setText(f"Not sent: {readable(error)}")

        self._host.submit(lambda: self._session.send(campaign_id, audience, fast), done, failed)

    def keyPressEvent(self, event: Any) -> None:
        """Enter alone does not send (Ctrl+Enter does); Esc closes."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            event.ignore()
            return
        super().keyPressEvent(event)
