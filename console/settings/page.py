"""Settings: provider profiles (use, test connection, import), the workspace database, and the SDK key.

Every profile operation runs on the engine thread. "Test connection" puts its button in a busy state and
shows one line per provider when the answers arrive. When the credential store is protected by a
passphrase (no usable OS keyring) the page asks for it and retries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.bridge import Host, readable
from console.session import PassphraseNeeded, ProfileInfo, SessionStatus
from console.theme import Theme
from console.widgets.page import Page
from core.config import DB_ENV
from core.errors import CredentialError, ValidationError
from core.providers.base import ConnectionCheck
from core.providers.profiles import ProfileKind

PROFILE_COLUMNS = ("Name", "Kind", "Providers", "Source")


def section(title: str, text: str = "") -> tuple[QFrame, QVBoxLayout]:
    """A card with a title and an optional explanation; returns the card and its layout."""
    card = QFrame(objectName="Card")
    layout = QVBoxLayout(card)
    layout.setContentsMargins(16, 16, 16, 16)
    layout.setSpacing(8)
    layout.addWidget(QLabel(title, objectName="SectionTitle"))
    if text:
        explanation = QLabel(text, objectName="Muted")
        explanation.setWordWrap(True)
        layout.addWidget(explanation)
    return card, layout


class SettingsPage(Page):
    """Profiles, database location and SDK key.

    Signals:
        profile_changed(object): the engine now sends through another profile; carries the ``SessionStatus``.
    """

    profile_changed = Signal(object)

    def __init__(self, host: Host, session: Any, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__("Settings", "Provider profiles, workspace and SDK key", parent)
        self._host = host
        self._session = session
        self._theme = theme
        self.active: str | None = None
        self.profiles: list[ProfileInfo] = []

        card, box = section("Provider profiles", "A profile holds the endpoints and credentials Herald sends with. "
                            "The simulator profile reaches only virtual devices; a production profile reaches "
                            "real phones.")
        self.table = QTableWidget(0, len(PROFILE_COLUMNS))
        self.table.setHorizontalHeaderLabels(PROFILE_COLUMNS)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(36)
        self.table.setShowGrid(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(150)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        box.addWidget(self.table)
        row = QHBoxLayout()
        self.use_button = QPushButton("Use for sending")
        self.use_button.setToolTip("Send every campaign through this profile from now on")
        self.use_button.clicked.connect(self.use_selected)
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Prove each provider accepts the credentials (no device is reached)")
        self.test_button.clicked.connect(self.test_selected)
        self.import_sim = QPushButton("Import simulator profile")
        self.import_sim.setToolTip("Store the simulator's credentials as a named profile, like production ones")
        self.import_sim.clicked.connect(self.import_simulator)
        self.import_prod = QPushButton("Import production credentials…")
        self.import_prod.setToolTip("FCM service account, APNs .p8 key, VAPID key; stored encrypted")
        self.import_prod.clicked.connect(self.open_import_dialog)
        for button in (self.use_button, self.test_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.import_sim)
        row.addWidget(self.import_prod)
        box.addLayout(row)
        self.results = QLabel("")
        self.results.setWordWrap(True)
        self.results.setTextFormat(self.results.textFormat().RichText)
        box.addWidget(self.results)

        db_card, db_box = section(
            "Workspace database",
            f"To open another workspace, start Herald with <b>--db URL</b> (SQLite file or "
            f"postgresql://user@host/db) or set <b>{DB_ENV}</b>; the location cannot change while the console runs.")
        self.db_location = QLineEdit(readOnly=True)
        db_box.addWidget(self.db_location)

        key_card, key_box = section("SDK key", "Apps and the simulator's devices send it with every report "
                                    "(X-Herald-Key) to the ingest API below.")
        key_row = QHBoxLayout()
        self.sdk_key = QLineEdit(readOnly=True)
        self.sdk_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.reveal = QPushButton("Reveal")
        self.reveal.setCheckable(True)
        self.reveal.setToolTip("Show or hide the key")
        self.reveal.toggled.connect(self._reveal)
        self.copy = QPushButton("Copy")
        self.copy.setToolTip("Copy the key to the clipboard")
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.sdk_key.text()))
        key_row.addWidget(self.sdk_key, 1)
        key_row.addWidget(self.reveal)
        key_row.addWidget(self.copy)
        key_box.addLayout(key_row)
        self.ingest_url = QLabel("", objectName="Muted")
        self.ingest_url.setTextInteractionFlags(self.ingest_url.textInteractionFlags().TextSelectableByMouse)
        key_box.addWidget(self.ingest_url)

        columns = QHBoxLayout()
        columns.setSpacing(16)
        left = QVBoxLayout()
        left.addWidget(card)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(16)
        right.addWidget(db_card)
        right.addWidget(key_card)
        right.addStretch(1)
        columns.addLayout(left, 3)
        columns.addLayout(right, 2)
        self.body.addLayout(columns, 1)
        self.import_dialog: ProductionImportDialog | None = None
        self.passphrase_dialog: QInputDialog | None = None
        self._update_buttons()

    # --------------------------------------------------------------------------------------- status

    def show_status(self, status: SessionStatus) -> None:
        """Database location, SDK key and active profile from the session."""
        self.db_location.setText(status.workspace)
        self.sdk_key.setText(status.sdk_key or "")
        self.ingest_url.setText(f"Ingest API: {status.ingest_url}" if status.ingest_url else "Ingest API not running")
        self.active = status.profile
        self._fill()

    def _reveal(self, shown: bool) -> None:
        self.sdk_key.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.reveal.setText("Hide" if shown else "Reveal")

    # ------------------------------------------------------------------------------------- profiles

    def refresh(self) -> None:
        """List the profiles on the engine thread."""
        self._host.submit(self._session.profiles, self.set_profiles,
                          lambda e: self._say(f"The profiles could not be listed: {readable(e)}", ok=False))

    def set_profiles(self, profiles: list[ProfileInfo]) -> None:
        """Show ``profiles``."""
        self.profiles = list(profiles)
        self._fill()

    def _fill(self) -> None:
        selected = self.selected()
        self.table.setRowCount(len(self.profiles))
        for row, p in enumerate(self.profiles):
            kind = "Simulator" if p.kind is ProfileKind.SIMULATOR else "Production"
            name = p.name + ("  ● active" if p.name == self.active else "")
            values = (name, kind, ", ".join(p.providers), p.source)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(row, column, item)
            if selected is not None and p.name == selected.name:
                self.table.selectRow(row)
        if self.selected() is None and self.profiles:
            self.table.selectRow(0)
        self._update_buttons()

    def selected(self) -> ProfileInfo | None:
        """The selected profile."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.profiles[rows[0].row()] if rows and rows[0].row() < len(self.profiles) else None

    def select(self, name: str) -> None:
        """Select profile ``name``."""
        for row, p in enumerate(self.profiles):
            if p.name == name:
                self.table.selectRow(row)

    def _update_buttons(self) -> None:
        p = self.selected()
        self.use_button.setEnabled(p is not None and p.name != self.active)
        self.test_button.setEnabled(p is not None and self.test_button.text() == "Test connection")

    def _say(self, html: str, ok: bool | None = None) -> None:
        colour = {True: self._theme.delivered, False: self._theme.failed, None: self._theme.text_muted}[ok]
        self.results.setText(f"<span style='color:{colour}'>{html}</span>")

    def _with_passphrase(self, retry: Any, error: BaseException) -> bool:
        """Ask for the store's passphrase and retry when that is what ``error`` needs; True when it asked."""
        needs = isinstance(error, PassphraseNeeded) or (
            isinstance(error, CredentialError) and error.field == "passphrase")
        if not needs:
            return False
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Credential store passphrase")
        new = isinstance(error, PassphraseNeeded) and error.new
        dialog.setLabelText(("Choose a passphrase for the credential store (no OS keyring is available)."
                             if new else "The credential store is protected by a passphrase.")
                            + ("" if isinstance(error, PassphraseNeeded) else "\nThat passphrase was wrong."))
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.textValueSelected.connect(lambda text: retry(text) if text else None)
        self.passphrase_dialog = dialog
        dialog.open()
        return True

    def use_selected(self) -> None:
        """Send through the selected profile from now on."""
        p = self.selected()
        if p is None:
            return
        self.use_button.setEnabled(False)
        self._say(f"Switching to {p.name}…")

        def done(status: SessionStatus) -> None:
            self.active = status.profile
            self._fill()
            self._say(f"Campaigns are now sent through <b>{p.name}</b>.", ok=True)
            self.profile_changed.emit(status)

        def failed(error: BaseException) -> None:
            self._update_buttons()
            if not self._with_passphrase(lambda pw: (setattr(self._session, "_passphrase", pw), self.use_selected()),
                                         error):
                self._say(f"{p.name} cannot be used: {readable(error)}", ok=False)

        self._host.submit(lambda: self._session.use_profile(p.name), done, failed)

    def test_selected(self, passphrase: str | None = None) -> None:
        """Test connection for the selected profile (busy until every provider answered)."""
        p = self.selected()
        if p is None:
            return
        self.test_button.setText("Testing…")
        self.test_button.setEnabled(False)
        self._say(f"Testing {p.name}: asking each provider to accept the credentials…")

        def done(checks: list[ConnectionCheck]) -> None:
            self.test_button.setText("Test connection")
            self._update_buttons()
            self.show_checks(p.name, checks)

        def failed(error: BaseException) -> None:
            self.test_button.setText("Test connection")
            self._update_buttons()
            if not self._with_passphrase(lambda pw: self.test_selected(pw), error):
                self._say(f"{p.name} could not be tested: {readable(error)}", ok=False)

        name = p.name
        self._host.submit(lambda: self._session.test_connection(name, passphrase or None), done, failed)

    def show_checks(self, name: str, checks: list[ConnectionCheck]) -> None:
        """One line per provider: ok or failed, and what was learned."""
        t = self._theme
        lines = []
        for c in checks:
            mark = (f"<b style='color:{t.delivered}'>✓ ok</b>" if c.ok else f"<b style='color:{t.failed}'>✗ failed</b>")
            lines.append(f"{c.provider.value.upper()} {mark} — {c.detail}")
        verdict = "All providers accept the credentials." if checks and all(c.ok for c in checks) else (
            "Fix the failing provider's credentials and import the profile again.")
        self.results.setText(f"<b>{name}</b>: {verdict}<br>" + "<br>".join(lines))

    def import_simulator(self, passphrase: str | None = None) -> None:
        """Store the simulator's profile as ``simulator-saved``."""
        self.import_sim.setEnabled(False)

        def done(info: ProfileInfo) -> None:
            self.import_sim.setEnabled(True)
            self._say(f"Imported <b>{info.name}</b> ({', '.join(info.providers)}), stored encrypted.", ok=True)
            self.refresh()

        def failed(error: BaseException) -> None:
            self.import_sim.setEnabled(True)
            if not self._with_passphrase(lambda pw: self.import_simulator(pw), error):
                self._say(f"The simulator profile could not be imported: {readable(error)}", ok=False)

        self._host.submit(lambda: self._session.import_simulator_profile(passphrase=passphrase or None), done, failed)

    def open_import_dialog(self) -> None:
        """The production credential import form."""
        dialog = ProductionImportDialog(self._host, self._session, self)
        dialog.imported.connect(lambda info: (self._say(f"Imported <b>{info.name}</b> "
                                                        f"({', '.join(info.providers)}), stored encrypted.", ok=True),
                                              self.refresh()))
        self.import_dialog = dialog
        dialog.open()

    def showEvent(self, event: Any) -> None:
        """List the profiles when shown."""
        super().showEvent(event)
        self.refresh()


class ProductionImportDialog(QDialog):
    """Production credential files in, an encrypted profile out; errors name the field.

    Signals:
        imported(object): the stored ``ProfileInfo``.
    """

    imported = Signal(object)

    def __init__(self, host: Host, session: Any, parent: SettingsPage) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import production credentials")
        self.setMinimumWidth(620)
        self._host = host
        self._session = session
        self._page = parent
        form = QFormLayout()
        form.setSpacing(8)
        self.fields: dict[str, QLineEdit] = {}

        def line(key: str, label: str, placeholder: str = "", browse: bool = False) -> None:
            edit = QLineEdit(placeholderText=placeholder)
            self.fields[key] = edit
            if browse:
                row = QHBoxLayout()
                row.addWidget(edit, 1)
                button = QPushButton("Browse…")
                button.setToolTip(f"Choose the {label.lower()}")
                button.clicked.connect(lambda: self._browse(edit))
                row.addWidget(button)
                form.addRow(label, row)
            else:
                form.addRow(label, edit)

        line("name", "Profile name", "prod")
        line("service_account", "FCM service account", "service-account.json", browse=True)
        line("apns_key", "APNs .p8 key", "AuthKey_ABC123DEFG.p8", browse=True)
        line("apns_key_id", "APNs key id", "ABC123DEFG")
        line("apns_team_id", "APNs team id", "DEF123GHIJ")
        line("apns_topic", "App bundle id", "com.example.app")
        self.sandbox = QCheckBox("APNs sandbox (development builds)")
        form.addRow("", self.sandbox)
        line("vapid_key", "VAPID private key", "vapid.pem", browse=True)
        line("vapid_subject", "VAPID subject", "mailto:push@example.com")
        self.error = QLabel("", objectName="Inline")
        self.error.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(16)
        intro = QLabel("Give the files of at least one provider. They are read once and stored encrypted "
                       "(OS keyring, or a passphrase where there is none).", objectName="Muted")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        close = QPushButton("Cancel")
        close.clicked.connect(self.reject)
        self.import_button = QPushButton("Import", objectName="Primary")
        self.import_button.clicked.connect(lambda: self.submit())
        buttons.addWidget(close)
        buttons.addWidget(self.import_button)
        layout.addLayout(buttons)

    def _browse(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a credential file")
        if path:
            edit.setText(path)

    def values(self) -> dict[str, Any]:
        """The form as ``production_profile`` keyword arguments."""
        v = {k: e.text().strip() for k, e in self.fields.items()}
        files: dict[str, Any] = {}
        for key in ("service_account", "apns_key", "vapid_key"):
            if v[key]:
                files[key] = Path(v[key]).expanduser()
        for key in ("apns_key_id", "apns_team_id", "apns_topic", "vapid_subject"):
            if v[key]:
                files[key] = v[key]
        if self.sandbox.isChecked():
            files["apns_sandbox"] = True
        return files

    def submit(self, passphrase: str | None = None) -> None:
        """Import on the engine thread; on error show it next to the form."""
        name = self.fields["name"].text().strip()
        if not name:
            self.error.setText("Give the profile a name (e.g. prod).")
            self.fields["name"].setFocus()
            return
        files = self.values()
        self.import_button.setEnabled(False)

        def done(info: ProfileInfo) -> None:
            self.imported.emit(info)
            self.accept()

        def failed(error: BaseException) -> None:
            self.import_button.setEnabled(True)
            if self._page._with_passphrase(lambda pw: self.submit(pw), error):
                return
            field = getattr(error, "field", None) if isinstance(error, CredentialError | ValidationError) else None
            self.error.setText(readable(error) + (f" (field: {field})" if field else ""))

        self._host.submit(lambda: self._session.import_production(name, passphrase, **files), done, failed)
