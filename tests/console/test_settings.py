"""Settings: profiles listed, test connection busy then answered per provider, SDK key masked."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.bridge import SyncEngineHost
from console.session import PassphraseNeeded, ProfileInfo, SessionStatus
from console.settings.page import SettingsPage
from console.theme import LIGHT
from core.domain import Provider
from core.providers.base import ConnectionCheck
from core.providers.profiles import ProfileKind

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

PROFILES = [
    ProfileInfo("simulator", ProfileKind.SIMULATOR, ("fcm", "apns", "webpush"), "bundled simulator", "", True),
    ProfileInfo("prod", ProfileKind.PRODUCTION, ("fcm", "apns"), "sa.json, AuthKey.p8", "2026-03-01"),
]
STATUS = SessionStatus(workspace="sqlite:////data/workspace.db", engine="sending", profile="simulator",
                       profile_kind=ProfileKind.SIMULATOR, simulator="running", fleet=1500,
                       sdk_key="hk_secret_value", ingest_url="http://127.0.0.1:8077")


class DeferredHost:
    """Holds submitted work until the test lets it run, like a busy engine thread."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, Callable[[Any], None] | None, Callable[[BaseException], None] | None]] = []
        self._sync = SyncEngineHost()

    def submit(self, work: Any, on_done: Any = None, on_error: Any = None) -> concurrent.futures.Future[Any]:
        self.jobs.append((work, on_done, on_error))
        return concurrent.futures.Future()

    def run_all(self) -> None:
        jobs, self.jobs = self.jobs, []
        for work, on_done, on_error in jobs:
            self._sync.submit(work, on_done, on_error)


class ProfilesSession:
    def __init__(self) -> None:
        self.passphrases: list[str | None] = []

    def profiles(self) -> list[ProfileInfo]:
        return list(PROFILES)

    async def test_connection(self, name: str, passphrase: str | None = None) -> list[ConnectionCheck]:
        self.passphrases.append(passphrase)
        if name == "prod" and passphrase is None:
            raise PassphraseNeeded(False)
        return [ConnectionCheck(Provider.FCM, True, "token obtained, validate-only send accepted"),
                ConnectionCheck(Provider.APNS, False, "403 InvalidProviderToken: check the key id and team id")]


def make_page(qtbot: QtBot, host: Any) -> SettingsPage:
    page = SettingsPage(host, ProfilesSession(), LIGHT)
    qtbot.addWidget(page)
    page.show_status(STATUS)
    page.set_profiles(PROFILES)
    return page


def test_test_connection_is_busy_then_shows_each_provider(qtbot: QtBot) -> None:
    host = DeferredHost()
    page = make_page(qtbot, host)
    page.select("simulator")
    page.test_button.click()
    assert page.test_button.text() == "Testing…" and not page.test_button.isEnabled()
    host.run_all()
    assert page.test_button.text() == "Test connection" and page.test_button.isEnabled()
    text = page.results.text()
    assert "FCM" in text and "✓ ok" in text and "validate-only send accepted" in text
    assert "APNS" in text and "✗ failed" in text and "InvalidProviderToken" in text


def test_a_passphrase_protected_store_asks_and_retries(qtbot: QtBot) -> None:
    page = make_page(qtbot, SyncEngineHost())
    page.select("prod")
    page.test_button.click()
    dialog = page.passphrase_dialog
    assert dialog is not None and "passphrase" in dialog.labelText()
    dialog.setTextValue("correct horse battery")
    dialog.accept()
    assert "✓ ok" in page.results.text()


def test_the_active_profile_database_and_sdk_key_are_shown(qtbot: QtBot) -> None:
    page = make_page(qtbot, SyncEngineHost())
    assert page.table.item(0, 0).text() == "simulator  ● active"
    assert page.table.item(1, 1).text() == "Production"
    assert page.db_location.text() == "sqlite:////data/workspace.db" and page.db_location.isReadOnly()
    assert page.sdk_key.echoMode() == page.sdk_key.EchoMode.Password
    page.reveal.click()
    assert page.sdk_key.echoMode() == page.sdk_key.EchoMode.Normal and page.sdk_key.text() == "hk_secret_value"
    page.select("simulator")
    assert not page.use_button.isEnabled()
    page.select("prod")
    assert page.use_button.isEnabled()
