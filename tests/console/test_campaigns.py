"""The campaign list (model without a window, then the page) and the send flow's confirmation."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from console.bridge import SyncEngineHost
from console.campaigns.model import (
    AUDIENCE,
    CLICKED,
    CTR,
    NAME,
    SENT,
    STATE,
    CampaignFilterModel,
    CampaignTableModel,
)
from console.campaigns.page import CampaignListPage, CampaignsScreen
from console.campaigns.send_dialog import SendDialog, parse_ids
from console.theme import LIGHT
from core.campaigns.definition import Audience
from core.domain import CampaignState
from core.providers.profiles import ProfileKind
from tests.console.fakes import FakeSession, summary

#: The offscreen platform says this whenever a top-level widget is shown; it is not about Herald.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

ROWS = [
    summary(1, "Spring sale", CampaignState.COMPLETED, 1000, 990, 950, 38),
    summary(2, "Welcome series", CampaignState.SENDING, 20_000, 12_000, 11_000, 120),
    summary(3, "Draft idea", CampaignState.DRAFT),
]


def test_the_model_shows_named_columns_without_a_window() -> None:
    model = CampaignTableModel()
    model.set_rows(ROWS)
    assert model.rowCount() == 3 and model.columnCount() == 7
    assert model.headerData(CTR, Qt.Orientation.Horizontal) == "CTR"
    assert model.data(model.index(1, NAME)) == "Welcome series"
    assert model.data(model.index(1, STATE)) == "Sending"
    assert model.data(model.index(1, AUDIENCE)) == "20,000"
    assert model.data(model.index(1, SENT)) == "12,000"
    assert model.data(model.index(0, CTR)) == "4.0 %"
    assert model.data(model.index(2, CTR)) == "—"
    assert model.data(model.index(2, AUDIENCE)) == "—"


def test_the_filter_model_sorts_numbers_as_numbers_and_filters_by_text_and_state() -> None:
    model = CampaignTableModel()
    model.set_rows(ROWS)
    proxy = CampaignFilterModel()
    proxy.setSourceModel(model)
    proxy.sort(CLICKED, Qt.SortOrder.DescendingOrder)
    assert [proxy.data(proxy.index(r, NAME)) for r in range(3)] == ["Welcome series", "Spring sale", "Draft idea"]
    proxy.set_search("SALE")
    assert proxy.rowCount() == 1
    proxy.set_search("")
    proxy.set_state("live")
    assert [proxy.data(proxy.index(r, NAME)) for r in range(proxy.rowCount())] == ["Welcome series"]


def activate(qtbot: QtBot, widget: QWidget) -> None:
    """Make ``widget`` the active window, so its keyboard shortcuts answer."""
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget)


def make_list(qtbot: QtBot, session: FakeSession) -> CampaignListPage:
    page = CampaignListPage(SyncEngineHost(), session, LIGHT)
    qtbot.addWidget(page)
    page.show()
    activate(qtbot, page)
    return page


def test_an_empty_list_explains_the_next_step(qtbot: QtBot) -> None:
    page = make_list(qtbot, FakeSession())
    assert page.stack.currentWidget() is page.empty
    assert "New campaign" in page.empty.text.text()


def test_search_with_ctrl_f_narrows_the_list(qtbot: QtBot) -> None:
    page = make_list(qtbot, FakeSession(rows=list(ROWS)))
    assert page.context_label.text() == "3 campaigns · 1 sending"
    qtbot.keyClick(page, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert page.search.hasFocus()
    qtbot.keyClicks(page.search, "welcome")
    assert page.proxy.rowCount() == 1
    qtbot.keyClicks(page.search, "zzz")
    assert page.stack.currentWidget() is page.nothing_found


def test_actions_follow_the_selected_campaign(qtbot: QtBot) -> None:
    session = FakeSession(rows=list(ROWS))
    page = make_list(qtbot, session)
    page.select(2)
    assert page.buttons["pause"].isEnabled() and not page.buttons["send"].isEnabled()
    assert not page.buttons["recall"].isEnabled()
    assert "arrives with" in page.buttons["recall"].toolTip()
    page.buttons["pause"].click()
    assert ("pause", 2) in session.calls
    page.select(3)
    assert page.buttons["send"].isEnabled() and not page.buttons["pause"].isEnabled()
    page.buttons["duplicate"].click()
    assert page.selected() is not None and page.selected().name == "Draft idea (copy)"  # type: ignore[union-attr]


def make_dialog(qtbot: QtBot, session: FakeSession, kind: ProfileKind = ProfileKind.SIMULATOR) -> SendDialog:
    name = "simulator" if kind is ProfileKind.SIMULATOR else "prod"
    dialog = SendDialog(SyncEngineHost(), session, 3, "Spring sale", Audience(all_devices=True), name, kind)
    qtbot.addWidget(dialog)
    return dialog


def test_the_send_confirmation_names_the_reach_and_the_profile(qtbot: QtBot) -> None:
    session = FakeSession()
    dialog = make_dialog(qtbot, session)
    assert dialog.reach_label.text() == "Reach: 1,234 devices (android 700 · ios 400 · web 134)"
    assert not dialog.later.isEnabled() and dialog.later.toolTip()
    dialog.fast.setChecked(True)
    dialog.review_button.click()
    assert dialog.steps.currentIndex() == 1
    assert dialog.question.text() == "Send to 1,234 devices on the simulator profile?"
    assert "Fast Push is on" in dialog.detail.text()
    with qtbot.waitSignal(dialog.sent) as sent:
        dialog.send_button.click()
    assert sent.args[0].campaign_id == 3
    assert session.calls[-1] == ("send", (3, Audience(all_devices=True), True))


def test_ctrl_enter_reviews_then_sends_to_listed_users(qtbot: QtBot) -> None:
    session = FakeSession()
    dialog = make_dialog(qtbot, session, ProfileKind.PRODUCTION)
    dialog.show()
    activate(qtbot, dialog)
    dialog.listed.setChecked(True)
    dialog.ids.setPlainText("u1, u2\nu3")
    dialog.count_reach()
    qtbot.keyClick(dialog, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert dialog.question.text() == "Send to 3 devices on the prod profile?"
    assert "real phones" in dialog.detail.text()
    qtbot.keyClick(dialog, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert session.calls[-1] == ("send", (3, Audience(external_ids=("u1", "u2", "u3")), False))


def test_an_empty_user_list_is_refused_inline(qtbot: QtBot) -> None:
    dialog = make_dialog(qtbot, FakeSession())
    dialog.listed.setChecked(True)
    dialog.count_reach()
    dialog.review()
    assert dialog.steps.currentIndex() == 0
    assert "at least one user id" in dialog.options_error.text()
    assert parse_ids(" a,b ;a\n c ") == ("a", "b", "c")


def test_sending_opens_the_live_dashboard(qtbot: QtBot) -> None:
    session = FakeSession(rows=list(ROWS))
    screen = CampaignsScreen(SyncEngineHost(), session, LIGHT, profile=lambda: ("simulator", ProfileKind.SIMULATOR))
    qtbot.addWidget(screen)
    shown: list[int] = []
    screen.dashboard.show_campaign = shown.append  # type: ignore[method-assign]
    screen.start_send(3)
    assert screen.send_dialog is not None
    screen.send_dialog.review()
    screen.send_dialog.confirm()
    assert screen.currentWidget() is screen.dashboard and shown == [3]
