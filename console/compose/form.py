"""The composer's form: every field of a ``PushContent``, grouped, with errors shown under their field.

``ComposeForm.content()`` builds the ``PushContent`` and checks it the way the sender will (the content's
own rules, the links' policy, the templates' syntax); ``show_errors`` puts each ``ValidationError`` under the
field its ``field`` names (``deep_link``, ``buttons.1.link``, ``locales.fr.title`` …) and the rest at the top.

Signals:
    changed(): any field was edited.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from console.theme import Theme
from core.composer.content import (
    INTERRUPTION_LEVELS,
    MAX_BUTTONS,
    MAX_TTL_SECONDS,
    TEXT_FIELDS,
    Button,
    LocalizedText,
    PushContent,
    has_template,
    normalise_locale,
)
from core.composer.links import LinkPolicy
from core.composer.personalise import checked_links
from core.composer.templates import TemplateEngine
from core.errors import ValidationError

MAX_LOCALES = 6
_NONE = "—"


class ContentErrors(Exception):
    """Every problem found in the form at once."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _label(text: str) -> QLabel:
    label = QLabel(text, objectName="FieldLabel")
    return label


class _LocaleRow(QWidget):
    """One language's title and body."""

    def __init__(self, on_change: object, on_remove: object) -> None:
        super().__init__()
        self.locale = QLineEdit(placeholderText="fr")
        self.locale.setFixedWidth(64)
        self.title = QLineEdit(placeholderText="Title in this language")
        self.body = QLineEdit(placeholderText="Body in this language")
        self.remove = QPushButton("✕", objectName="Flat")
        self.remove.setToolTip("Remove this language")
        self.remove.setFixedWidth(28)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        for w in (self.locale, self.title, self.body, self.remove):
            row.addWidget(w, 0 if w in (self.locale, self.remove) else 1)
        for edit in (self.locale, self.title, self.body):
            edit.textChanged.connect(on_change)
        self.remove.clicked.connect(lambda: on_remove(self))  # type: ignore[operator]


class ComposeForm(QWidget):
    """Two columns of fields in sections: Message, Buttons, Delivery, Translations, Data."""

    changed = Signal()

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.templates = TemplateEngine()
        self.links = LinkPolicy.from_env()
        self.inputs: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.general_error = QLabel(objectName="FieldError")
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self._locale_rows: list[_LocaleRow] = []

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 8, 0)
        outer.setSpacing(8)
        outer.addWidget(self.general_error)

        message = self._section(outer, "Message")
        self.title = self._line(message, "title", "Title", "Spring sale: 20% off, {{ first_name | default: 'friend' }}",
                                0, 0, 2)
        self.subtitle = self._line(message, "subtitle", "Subtitle", "Shown on iOS only", 1, 0, 2)
        self.body = QPlainTextEdit()
        self.body.setPlaceholderText("What the notification says. Liquid works: {{ recent.last_viewed_product }}")
        self.body.setFixedHeight(84)
        self.body.setTabChangesFocus(True)
        self._place(message, "body", "Body", self.body, 2, 0, 2)
        self.image = self._line(message, "image", "Image", "https://cdn.example/hero.jpg", 3, 0)
        self.icon = self._line(message, "icon", "Icon", "https://cdn.example/icon.png or a drawable name", 3, 1)
        self.deep_link = self._line(message, "deep_link", "Opens", "https://shop.example/sale or shop://sale", 4, 0,
                                    2)

        buttons = self._section(outer, f"Buttons (up to {MAX_BUTTONS})")
        self.button_labels: list[QLineEdit] = []
        self.button_links: list[QLineEdit] = []
        for i in range(MAX_BUTTONS):
            self.button_labels.append(self._line(buttons, f"buttons.{i}.label", f"Button {i + 1}",
                                                 ("Shop now", "Later", "Unsubscribe")[i], i, 0))
            self.button_links.append(self._line(buttons, f"buttons.{i}.link", "Link", "https://… or app://…", i, 1))

        delivery = self._section(outer, "Delivery")
        self.sound = self._line(delivery, "sound", "Sound", "default", 0, 0)
        self.badge = QSpinBox()
        self.badge.setRange(-1, 9999)
        self.badge.setSpecialValueText(_NONE)
        self.badge.setValue(-1)
        self._place(delivery, "badge", "Badge", self.badge, 0, 1)
        self.channel = self._line(delivery, "channel", "Android channel", "promotions", 1, 0)
        self.category = self._line(delivery, "category", "iOS category", "SALE", 1, 1)
        self.priority = QComboBox()
        self.priority.addItem("High — wake the device", "high")
        self.priority.addItem("Normal — may be batched", "normal")
        self._place(delivery, "priority", "Priority", self.priority, 2, 0)
        self.ttl_hours = QSpinBox()
        self.ttl_hours.setRange(0, MAX_TTL_SECONDS // 3600)
        self.ttl_hours.setValue(24)
        self.ttl_hours.setSuffix(" h")
        self.ttl_hours.setToolTip("How long providers keep trying an offline device (0 = now or never)")
        self._place(delivery, "ttl_seconds", "Time to live", self.ttl_hours, 2, 1)
        self.replace_key = self._line(delivery, "replace_key", "Replace key", "spring-sale", 3, 0)
        self.interruption = QComboBox()
        self.interruption.addItem("Default", None)
        for level in INTERRUPTION_LEVELS:
            self.interruption.addItem(level.replace("-", " ").capitalize(), level)
        self._place(delivery, "interruption_level", "iOS interruption", self.interruption, 3, 1)
        self.silent = QCheckBox("Silent (data only, nothing shown)")
        self.trim_body = QCheckBox("Trim the body to fit")
        delivery.addWidget(self.silent, 8, 0)
        delivery.addWidget(self.trim_body, 8, 1)
        self.data = QPlainTextEdit()
        self.data.setPlaceholderText("key=value, one per line — handed to the app")
        self.data.setFixedHeight(60)
        self.data.setTabChangesFocus(True)
        self._place(delivery, "data", "Custom data", self.data, 9, 0, 2)

        locales = self._section(outer, "Translations")
        self._locales_box = QVBoxLayout()
        self._locales_box.setSpacing(8)
        locales.addLayout(self._locales_box, 0, 0, 1, 2)
        self.add_locale = QPushButton("+ Add a language")
        self.add_locale.setObjectName("Flat")
        self.add_locale.clicked.connect(lambda: self.add_locale_row())
        locales.addWidget(self.add_locale, 1, 0, Qt.AlignmentFlag.AlignLeft)
        self.errors["locales"] = self._error_label()
        locales.addWidget(self.errors["locales"], 2, 0, 1, 2)
        outer.addStretch(1)

        for edit in (self.title, self.subtitle, self.image, self.icon, self.deep_link, self.sound, self.channel,
                     self.category, self.replace_key, *self.button_labels, *self.button_links):
            edit.textChanged.connect(self.changed)
        for text_edit in (self.body, self.data):
            text_edit.textChanged.connect(self.changed)
        for spin in (self.badge, self.ttl_hours):
            spin.valueChanged.connect(self.changed)
        for combo in (self.priority, self.interruption):
            combo.currentIndexChanged.connect(self.changed)
        for box in (self.silent, self.trim_body):
            box.toggled.connect(self.changed)

    # -- building the form -----------------------------------------------------------------------------

    def _section(self, outer: QVBoxLayout, title: str) -> QGridLayout:
        heading = QLabel(title, objectName="SectionTitle")
        outer.addSpacing(8)
        outer.addWidget(heading)
        frame = QFrame(objectName="Card")
        grid = QGridLayout(frame)
        grid.setContentsMargins(16, 16, 16, 16)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        outer.addWidget(frame)
        return grid

    def _error_label(self) -> QLabel:
        label = QLabel(objectName="FieldError")
        label.setWordWrap(True)
        label.hide()
        return label

    def _place(self, grid: QGridLayout, name: str, label: str, widget: QWidget, row: int, column: int,
               span: int = 1) -> None:
        cell = QVBoxLayout()
        cell.setSpacing(4)
        cell.setContentsMargins(0, 0, 0, 8)
        caption = _label(label)
        caption.setBuddy(widget)
        cell.addWidget(caption)
        cell.addWidget(widget)
        error = self._error_label()
        cell.addWidget(error)
        grid.addLayout(cell, row, column, 1, span)
        widget.setAccessibleName(label)
        self.inputs[name] = widget
        self.errors[name] = error

    def _line(self, grid: QGridLayout, name: str, label: str, placeholder: str, row: int, column: int,
              span: int = 1) -> QLineEdit:
        edit = QLineEdit(placeholderText=placeholder)
        edit.setClearButtonEnabled(True)
        self._place(grid, name, label, edit, row, column, span)
        return edit

    def add_locale_row(self, locale: str = "", title: str = "", body: str = "") -> None:
        """Add a language with its texts (up to ``MAX_LOCALES``)."""
        if len(self._locale_rows) >= MAX_LOCALES:
            return
        row = _LocaleRow(lambda *_: self.changed.emit(), self._remove_locale_row)
        row.locale.setText(locale)
        row.title.setText(title)
        row.body.setText(body)
        self._locale_rows.append(row)
        self._locales_box.addWidget(row)
        self.add_locale.setEnabled(len(self._locale_rows) < MAX_LOCALES)
        self.changed.emit()

    def _remove_locale_row(self, row: _LocaleRow) -> None:
        self._locale_rows.remove(row)
        row.deleteLater()
        self.add_locale.setEnabled(True)
        self.changed.emit()

    def locales(self) -> list[str]:
        """The languages written so far (normalised), in order."""
        return [normalise_locale(r.locale.text().strip()) for r in self._locale_rows if r.locale.text().strip()]

    # -- reading and writing -----------------------------------------------------------------------------

    def is_blank(self) -> bool:
        """Nothing written yet (no title, no body, not silent)."""
        return not (self.title.text().strip() or self.body.toPlainText().strip() or self.silent.isChecked()
                    or any(r.title.text() or r.body.text() for r in self._locale_rows))

    def _data(self, errors: list[ValidationError]) -> dict[str, str]:
        data: dict[str, str] = {}
        for number, line in enumerate(self.data.toPlainText().splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                errors.append(ValidationError(f"line {number}: write key=value", "data"))
                continue
            data[key.strip()] = value.strip()
        return data

    def _buttons(self, errors: list[ValidationError]) -> tuple[Button, ...]:
        buttons = []
        self._button_rows: list[int] = []
        for i, (label_edit, link_edit) in enumerate(zip(self.button_labels, self.button_links, strict=True)):
            label, link = label_edit.text().strip(), link_edit.text().strip()
            if not label and not link:
                continue
            if not label:
                problem = ValidationError("a button needs a label", f"buttons.{i}.label")
                problem.ui_field = f"buttons.{i}.label"  # type: ignore[attr-defined]
                errors.append(problem)
                continue
            buttons.append(Button(f"b{i + 1}", label, link or None))
            self._button_rows.append(i)
        return tuple(buttons)

    def _locale_texts(self, errors: list[ValidationError]) -> dict[str, LocalizedText]:
        out: dict[str, LocalizedText] = {}
        for row in self._locale_rows:
            tag = row.locale.text().strip()
            if not tag and not (row.title.text() or row.body.text()):
                continue
            if not tag:
                errors.append(ValidationError("name the language (fr, pt-BR …)", "locales"))
                continue
            key = normalise_locale(tag)
            if key in out:
                errors.append(ValidationError(f"{key} is written twice", "locales"))
                continue
            out[key] = LocalizedText(title=row.title.text(), body=row.body.text())
        return out

    def content(self) -> PushContent:
        """The content as written, checked like the sender checks it; ContentErrors with every problem."""
        errors: list[ValidationError] = []
        text = {"title": self.title.text(), "subtitle": self.subtitle.text(), "body": self.body.toPlainText()}
        optional = {name: getattr(self, name).text().strip() or None
                    for name in ("image", "icon", "deep_link", "sound", "channel", "category", "replace_key")}
        buttons = self._buttons(errors)
        data = self._data(errors)
        locales = self._locale_texts(errors)
        for name, value in (*text.items(), *((k, v) for k, v in optional.items() if v)):
            self._check_template(value, name, errors)
        for i, b in enumerate(buttons):
            self._check_template(b.label, f"buttons.{i}.label", errors)
        content: PushContent | None = None
        try:
            content = PushContent(
                **text, **optional, buttons=buttons, data=data, locales=locales,
                badge=self.badge.value() if self.badge.value() >= 0 else None,
                priority=str(self.priority.currentData()), ttl_seconds=self.ttl_hours.value() * 3600,
                interruption_level=self.interruption.currentData(), silent=self.silent.isChecked(),
                trim_body=self.trim_body.isChecked(),
            )
        except ValidationError as exc:
            errors.append(exc)
        if content is not None:
            try:
                content = checked_links(content, self.links)
            except ValidationError as exc:
                errors.append(exc)
        if errors or content is None:
            raise ContentErrors(errors)
        return content

    def _check_template(self, text: str, field: str, errors: list[ValidationError]) -> None:
        if has_template(text):
            try:
                self.templates.compile(text, field)
            except ValidationError as exc:
                errors.append(exc)

    def set_content(self, content: PushContent) -> None:
        """Fill the form from ``content`` (a draft, a duplicated campaign)."""
        for name in (*TEXT_FIELDS, "image", "icon", "deep_link", "sound", "channel", "category", "replace_key"):
            widget = getattr(self, name)
            value = getattr(content, name) or ""
            if isinstance(widget, QPlainTextEdit):
                widget.setPlainText(value)
            else:
                widget.setText(value)
                widget.setCursorPosition(0)
        for i in range(MAX_BUTTONS):
            b = content.buttons[i] if i < len(content.buttons) else None
            self.button_labels[i].setText(b.label if b else "")
            self.button_links[i].setText((b.link or "") if b else "")
            self.button_links[i].setCursorPosition(0)
        self.badge.setValue(content.badge if content.badge is not None else -1)
        self.priority.setCurrentIndex(max(0, self.priority.findData(content.priority)))
        self.ttl_hours.setValue(content.ttl_seconds // 3600)
        self.interruption.setCurrentIndex(max(0, self.interruption.findData(content.interruption_level)))
        self.silent.setChecked(content.silent)
        self.trim_body.setChecked(content.trim_body)
        self.data.setPlainText("\n".join(f"{k}={v}" for k, v in content.data.items()))
        for row in list(self._locale_rows):
            self._remove_locale_row(row)
        for tag, texts in content.locales.items():
            self.add_locale_row(tag, texts.title, texts.body)

    def show_errors(self, errors: Iterable[ValidationError]) -> None:
        """Each error under its field (the first per field); errors without a field at the top."""
        by_field: dict[str, str] = {}
        general: list[str] = []
        for error in errors:
            key = getattr(error, "ui_field", None) or self._field_key(error.field)
            if key is None:
                general.append(str(error))
            else:
                by_field.setdefault(key, _readable(str(error), error.field))
        for name, label in self.errors.items():
            message = by_field.get(name)
            label.setText(message or "")
            label.setVisible(bool(message))
            widget = self.inputs.get(name)
            if widget is not None:
                widget.setProperty("invalid", bool(message))
                widget.style().unpolish(widget)
                widget.style().polish(widget)
        self.general_error.setText("\n".join(general))
        self.general_error.setVisible(bool(general))

    def _field_key(self, field: str | None) -> str | None:
        if field is None:
            return None
        if field.startswith("buttons.") and field.count(".") == 2:
            _, index, part = field.split(".")
            rows = getattr(self, "_button_rows", [])
            if index.isdigit() and int(index) < len(rows):
                return f"buttons.{rows[int(index)]}.{part}"
        if field in self.errors:
            return field
        if field.startswith("locales"):
            return "locales"
        if field == "buttons":
            return "buttons.0.label"
        if field == "badge_increment":
            return "badge"
        return None

    def error_for(self, field: str) -> str:
        """The error shown under ``field`` ('' when none)."""
        label = self.errors.get(field)
        return label.text() if label is not None else ""


def _readable(message: str, field: str | None) -> str:
    """Drop the ``field:`` prefix core puts on messages; the error sits under that field already."""
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2:]
    return message


__all__ = ["ComposeForm", "ContentErrors"]
