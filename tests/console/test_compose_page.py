"""The composer as a user meets it: typing updates the three previews and the byte meters; errors sit
under their field; an oversize body turns the meters red; Send hands the checked content on."""

from __future__ import annotations

import dataclasses

import pytest
from pytestqt.qtbot import QtBot

from console.bridge import SyncEngineHost
from console.compose.page import ComposePage
from console.compose.personalisation import PreviewRecipient
from console.theme import DARK, LIGHT
from core.composer.content import PushContent
from core.domain import Platform

#: The offscreen platform says this whenever a top-level widget is shown; it is not our warning.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def make_page(qtbot: QtBot, source: object | None = None, dark: bool = False) -> ComposePage:
    page = ComposePage(SyncEngineHost(), source, DARK if dark else LIGHT)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.resize(1240, 860)
    page.show()
    return page


def test_typing_a_title_updates_every_preview_and_meter(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    assert all(c.device.shown is None for c in page.columns.values())
    assert not page.send_button.isEnabled()
    qtbot.keyClicks(page.form.title, "Spring sale")
    qtbot.waitUntil(lambda: all(c.device.shown is not None for c in page.columns.values()))
    sizes = {p: c.meter.size_bytes for p, c in page.columns.items()}
    assert all(c.device.shown.title == "Spring sale" for c in page.columns.values())  # type: ignore[union-attr]
    assert all(size > 0 for size in sizes.values())
    assert page.send_button.isEnabled()
    qtbot.keyClicks(page.form.title, " is on")
    qtbot.waitUntil(lambda: page.columns[Platform.IOS].device.shown.title == "Spring sale is on")  # type: ignore[union-attr]
    assert all(c.meter.size_bytes == sizes[p] + len(" is on") for p, c in page.columns.items())


def test_platform_rules_show_in_the_previews(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("T" * 80)
    page.form.subtitle.setText("Only on iOS")
    page.form.button_labels[0].setText("Shop now")
    page.form.button_links[0].setText("https://shop.example/sale")
    page.refresh_now()
    android, ios, web = (page.columns[p] for p in (Platform.ANDROID, Platform.IOS, Platform.WEB))
    assert android.device.shown is not None and android.device.shown.title.endswith("…")
    assert len(android.device.shown.title) == 65 and not android.device.shown.buttons
    assert ios.device.shown is not None and ios.device.shown.subtitle == "Only on iOS"
    assert ios.device.shown.buttons[0].label == "Shop now"
    assert "subtitle" in web.note.text() and "Cut: title" in android.note.text()


def test_an_invalid_link_shows_an_error_next_to_the_field(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    qtbot.keyClicks(page.form.title, "Spring sale")
    qtbot.keyClicks(page.form.deep_link, "javascript:alert(1)")
    qtbot.waitUntil(lambda: page.form.error_for("deep_link") != "")
    assert "javascript: links are refused" in page.form.error_for("deep_link")
    assert page.form.errors["deep_link"].isVisible()
    assert page.form.error_for("title") == ""
    assert not page.send_button.isEnabled()
    page.form.deep_link.setText("https://shop.example/sale")
    qtbot.waitUntil(lambda: page.form.error_for("deep_link") == "")
    assert page.send_button.isEnabled()


def test_a_button_link_error_sits_under_that_button(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("Hello")
    page.form.button_labels[1].setText("Later")
    page.form.button_links[1].setText("http://insecure.example")
    page.refresh_now()
    assert "http" in page.form.error_for("buttons.1.link")
    assert page.form.error_for("deep_link") == ""


def test_an_oversize_body_turns_the_meters_red(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("Spring sale")
    page.refresh_now()
    assert all(c.meter.level == "ok" for c in page.columns.values())
    page.form.body.setPlainText("Lorem ipsum dolor sit amet. " * 160)
    page.refresh_now()
    for column in page.columns.values():
        assert column.meter.level == "over"
        assert column.meter.colour == LIGHT.failed
        assert "over" in column.meter.text()
    assert not page.send_button.isEnabled()
    assert "Too large" in page.context_label.text()
    page.form.trim_body.setChecked(True)
    page.refresh_now()
    assert all(c.meter.level == "near" and c.meter.trimmed for c in page.columns.values())
    assert page.send_button.isEnabled()


def test_a_template_syntax_error_is_shown_under_its_field(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("Hi {{ first_name ")
    page.refresh_now()
    assert page.form.error_for("title") != ""
    assert not page.send_button.isEnabled()


def test_a_silent_push_shows_nothing_on_screen(qtbot: QtBot) -> None:
    page = make_page(qtbot, dark=True)
    page.form.silent.setChecked(True)
    page.form.data.setPlainText("sync=orders")
    page.refresh_now()
    assert all(c.device.silent and c.device.shown is None for c in page.columns.values())
    assert page.content is not None and page.content.data == {"sync": "orders"}


def test_send_emits_the_checked_content(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("Spring sale")
    page.form.body.setPlainText("20% off")
    page.form.deep_link.setText("https://SHOP.example/sale")
    qtbot.waitUntil(page.send_button.isEnabled)
    with qtbot.waitSignal(page.send_requested) as signal:
        page.send_button.click()
    sent = signal.args[0]
    assert isinstance(sent, PushContent)
    assert (sent.title, sent.body, sent.deep_link) == ("Spring sale", "20% off", "https://shop.example/sale")


def test_a_translation_can_be_previewed(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("Spring sale")
    page.form.add_locale_row("fr", "Soldes de printemps", "")
    page.refresh_now()
    page.language.setCurrentIndex(page.language.findData("fr"))
    page.refresh_now()
    assert page.columns[Platform.WEB].device.shown.title == "Soldes de printemps"  # type: ignore[union-attr]


class FakeRecipients:
    """A personalisation source with one recipient who has a first name."""

    def recipients(self, limit: int = 200) -> list[PreviewRecipient]:
        return [PreviewRecipient(7, "ana", "ios", "en-GB")]

    def render(self, content: PushContent, device_id: int) -> PushContent:
        assert device_id == 7
        return dataclasses.replace(content, title=content.title.replace("{{ first_name }}", "Ana"))


def test_the_preview_can_be_personalised_for_a_chosen_user(qtbot: QtBot) -> None:
    page = make_page(qtbot, FakeRecipients())
    page.form.title.setText("Hi {{ first_name }}")
    page.refresh_now()
    assert page.columns[Platform.ANDROID].device.shown.title == "Hi {{ first_name }}"  # type: ignore[union-attr]
    assert page.recipient.count() == 2 and "ana" in page.recipient.itemText(1)
    page.preview_as(7)
    page.refresh_now()
    assert page.columns[Platform.ANDROID].device.shown.title == "Hi Ana"  # type: ignore[union-attr]


def test_a_button_without_a_label_is_flagged_on_its_own_row(qtbot: QtBot) -> None:
    page = make_page(qtbot)
    page.form.title.setText("Hello")
    page.form.button_links[2].setText("https://shop.example")
    page.refresh_now()
    assert page.form.error_for("buttons.2.label") == "a button needs a label"
    assert page.form.error_for("buttons.0.label") == ""
