"""Compose: the push's form on the left, Android / iOS / web previews with byte meters on the right.

::

    page = ComposePage(host, WorkspacePersonalisation(db), theme)   # or personalisation=None
    page.send_requested.connect(open_send_flow)                    # receives the checked PushContent

Typing updates the previews after a short pause (``DEBOUNCE_MS``). Errors appear under their field. With a
recipient picked in "Preview as", the content is personalised on the engine thread (``host.submit``) with
the sender's own ``Personaliser``, and the previews show that recipient's texts; otherwise the templates
show as written (or in the language picked in "Language").

Signals:
    send_requested(object): the ``PushContent`` to send, when the user presses Send… (Ctrl+Enter).
    content_changed(object): the valid ``PushContent`` after each edit, or None while it has errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.compose.devices import DevicePreview, preview_for
from console.compose.form import ComposeForm, ContentErrors
from console.compose.meter import SizeMeter
from console.compose.personalisation import PersonalisationSource, PreviewRecipient
from console.compose.preview_data import PLATFORMS, PlatformPreview, platform_previews
from console.theme import Theme
from console.widgets.page import Page
from core.composer.content import PushContent
from core.domain import Platform
from core.errors import ValidationError

DEBOUNCE_MS = 150
PLATFORM_NAMES = {Platform.ANDROID: ("Android", "FCM"), Platform.IOS: ("iOS", "APNs"),
                  Platform.WEB: ("Web", "Web Push")}


class Host(Protocol):
    """The part of EngineHost this page uses."""

    def submit(self, work: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> object: ...


def compose_stylesheet(theme: Theme) -> str:
    """Styles of the composer's own parts (section titles, field labels, errors, invalid fields)."""
    t = theme
    return f"""
    QLabel#SectionTitle {{ font-size: 13px; font-weight: 600; color: {t.text}; }}
    QLabel#FieldLabel {{ color: {t.text_muted}; font-size: 12px; }}
    QLabel#FieldError {{ color: {t.failed}; font-size: 12px; }}
    QLabel#PreviewCaption {{ font-weight: 600; }}
    QLabel#PreviewNote {{ color: {t.text_muted}; font-size: 11px; }}
    QLineEdit, QPlainTextEdit {{ border: 1px solid {t.border}; border-radius: 6px; padding: 5px 8px;
        background: {t.surface}; }}
    QLineEdit:focus, QPlainTextEdit:focus {{ border-color: {t.accent}; }}
    QLineEdit[invalid="true"], QPlainTextEdit[invalid="true"] {{ border-color: {t.failed}; }}
    QPushButton#Flat {{ border: none; color: {t.accent}; padding: 4px 0; text-align: left; }}
    QScrollArea#FormScroll {{ background: transparent; border: none; }}
    QWidget#FormBody {{ background: transparent; }}
    """


class PlatformColumn(QWidget):
    """One platform: caption, device preview, what it drops or cuts, and its byte meter."""

    def __init__(self, platform: Platform, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        name, provider = PLATFORM_NAMES[platform]
        self.platform = platform
        self.caption = QLabel(name, objectName="PreviewCaption")
        self.device: DevicePreview = preview_for(platform, theme)
        self.note = QLabel(objectName="PreviewNote")
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.note.setMinimumHeight(30)
        self.meter = SizeMeter(f"{provider} payload", theme)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.caption)
        layout.addWidget(self.device)
        layout.addWidget(self.meter)
        layout.addWidget(self.note)
        layout.addStretch(1)

    def show_preview(self, preview: PlatformPreview | None) -> None:
        """Draw ``preview`` (None: nothing written yet)."""
        if preview is None:
            self.device.show_notification(None)
            self.meter.set_usage(0, 1)
            self.note.setText("")
            return
        self.device.show_notification(preview.shown, silent=preview.shown is None)
        self.meter.set_usage(preview.size, preview.limit, preview.trimmed)
        notes = []
        if preview.shown is not None:
            if preview.shown.dropped:
                notes.append("Not shown: " + ", ".join(_field_name(f) for f in preview.shown.dropped))
            if preview.shown.truncated:
                notes.append("Cut: " + ", ".join(_field_name(f) for f in preview.shown.truncated))
        if preview.error:
            notes.append(preview.error)
        self.note.setText(" · ".join(notes))


def _field_name(field: str) -> str:
    if field.startswith("buttons["):
        return "buttons after the " + ("first" if field == "buttons[1:]" else "second")
    return {"buttons.label": "button labels"}.get(field, field)


class ComposePage(Page):
    """The composer screen; see the module docstring for wiring."""

    send_requested = Signal(object)
    content_changed = Signal(object)

    def __init__(self, host: Host, personalisation: PersonalisationSource | None, theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__("Compose", "Write one push and see it on every platform", parent)
        self.host = host
        self.personalisation = personalisation
        self.theme = theme
        self.setStyleSheet(compose_stylesheet(theme))
        self.content: PushContent | None = None
        self.previews: dict[Platform, PlatformPreview] = {}
        self._generation = 0
        self.send_button = self.set_primary_action("Send…", "Choose the audience and send (Ctrl+Enter)")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self.request_send)
        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.activated.connect(self.request_send)

        self.form = ComposeForm(theme)
        self.form.setObjectName("FormBody")
        scroll = QScrollArea(objectName="FormScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.form)
        scroll.viewport().setAutoFillBackground(False)
        scroll.setMinimumWidth(430)

        self.recipient = QComboBox()
        self.recipient.setToolTip("Render the templates for one recipient, as the sender would")
        self.recipient.addItem("Template as written", None)
        self.recipient.setMinimumWidth(220)
        self.language = QComboBox()
        self.language.setToolTip("Which language's texts to preview")
        self.language.addItem("Default language", None)
        self.status = QLabel(objectName="FieldError")
        self.status.setWordWrap(True)
        self.status.hide()
        pickers = QHBoxLayout()
        pickers.setSpacing(8)
        pickers.addWidget(QLabel("Preview as", objectName="FieldLabel"))
        pickers.addWidget(self.recipient)
        pickers.addSpacing(16)
        pickers.addWidget(QLabel("Language", objectName="FieldLabel"))
        pickers.addWidget(self.language)
        pickers.addStretch(1)
        self.columns = {p: PlatformColumn(p, theme) for p in PLATFORMS}
        grid = QGridLayout()
        grid.setHorizontalSpacing(24)
        for i, column in enumerate(self.columns.values()):
            grid.addWidget(column, 0, i)
            grid.setColumnStretch(i, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(16, 0, 0, 0)
        right_layout.setSpacing(16)
        right_layout.addLayout(pickers)
        right_layout.addWidget(self.status)
        right_layout.addLayout(grid, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([440, 760])
        self.splitter.setChildrenCollapsible(False)
        self.body.addWidget(self.splitter, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh_now)
        self.form.changed.connect(self._debounce.start)
        self.recipient.currentIndexChanged.connect(self._debounce.start)
        self.language.currentIndexChanged.connect(self._debounce.start)
        self.refresh_now()
        if personalisation is not None:
            self.load_recipients()

    # -- recipients ------------------------------------------------------------------------------------

    def load_recipients(self) -> None:
        """Ask the engine for recipients to preview as."""
        if self.personalisation is None:
            return
        source = self.personalisation
        self.host.submit(lambda: source.recipients(200), self._show_recipients, self._recipients_failed)

    def _show_recipients(self, recipients: list[PreviewRecipient]) -> None:
        current = self.recipient.currentData()
        self.recipient.blockSignals(True)
        while self.recipient.count() > 1:
            self.recipient.removeItem(1)
        for r in recipients:
            self.recipient.addItem(r.label, r.device_id)
        index = self.recipient.findData(current)
        self.recipient.setCurrentIndex(max(0, index))
        self.recipient.blockSignals(False)
        if not recipients:
            self.recipient.setToolTip("No recipients in this workspace yet — import users or run the demo")

    def _recipients_failed(self, error: BaseException) -> None:
        self.recipient.setToolTip(f"Recipients could not be loaded: {error}")

    def preview_as(self, device_id: int | None) -> None:
        """Preview for the recipient on device ``device_id`` (None: the templates as written)."""
        self.recipient.setCurrentIndex(max(0, self.recipient.findData(device_id)))

    # -- previews -------------------------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Check the form and redraw the previews (the debounce timer calls this)."""
        self._debounce.stop()
        self._generation += 1
        self._sync_languages()
        if self.form.is_blank():
            self.form.show_errors([])
            self._set_content(None)
            for column in self.columns.values():
                column.show_preview(None)
            self.set_context("Write a title or a body to see it on every platform")
            return
        try:
            content = self.form.content()
        except ContentErrors as errors:
            self.form.show_errors(errors.errors)
            self._set_content(None)
            self.set_context(f"{len(errors.errors)} problem{'s' if len(errors.errors) != 1 else ''} to fix")
            return
        self.form.show_errors([])
        device_id = self.recipient.currentData()
        if device_id is None or self.personalisation is None:
            locale = self.language.currentData()
            self.status.hide()
            self._show(content, content.localized(locale) if locale else content)
            return
        generation = self._generation
        source = self.personalisation
        self.host.submit(
            lambda: source.render(content, device_id),
            lambda rendered: self._personalised(generation, content, rendered),
            lambda error: self._personalisation_failed(generation, content, error),
        )

    def _sync_languages(self) -> None:
        wanted = self.form.locales()
        have = [self.language.itemData(i) for i in range(1, self.language.count())]
        if wanted == have:
            return
        current = self.language.currentData()
        self.language.blockSignals(True)
        while self.language.count() > 1:
            self.language.removeItem(1)
        for tag in wanted:
            self.language.addItem(tag, tag)
        self.language.setCurrentIndex(max(0, self.language.findData(current)))
        self.language.blockSignals(False)

    def _personalised(self, generation: int, content: PushContent, rendered: PushContent) -> None:
        if generation != self._generation:
            return
        self.status.hide()
        self._show(content, rendered)

    def _personalisation_failed(self, generation: int, content: PushContent, error: BaseException) -> None:
        if generation != self._generation:
            return
        if isinstance(error, ValidationError):
            self.form.show_errors([error])
        self.status.setText(f"For {self.recipient.currentText()}: {error}")
        self.status.show()
        self._show(content, content)

    def _show(self, content: PushContent, shown: PushContent) -> None:
        self.previews = platform_previews(shown)
        for platform, column in self.columns.items():
            column.show_preview(self.previews[platform])
        over = [PLATFORM_NAMES[p][0] for p, v in self.previews.items() if v.over]
        self._set_content(content, sendable=not over)
        if over:
            self.set_context(f"Too large for {', '.join(over)} — shorten the texts or allow trimming the body")
        else:
            largest = max(self.previews.values(), key=lambda v: v.ratio)
            self.set_context(f"Fits every platform · largest payload {largest.ratio:.0%} of the "
                             f"{PLATFORM_NAMES[largest.platform][1]} limit")

    def _set_content(self, content: PushContent | None, sendable: bool = True) -> None:
        self.content = content
        self.send_button.setEnabled(content is not None and sendable)
        self.content_changed.emit(content)

    # -- sending --------------------------------------------------------------------------------------

    def request_send(self) -> None:
        """Emit ``send_requested`` with the current content when it can be sent."""
        if self._debounce.isActive():
            self.refresh_now()
        if self.content is not None and self.send_button.isEnabled():
            self.send_requested.emit(self.content)
