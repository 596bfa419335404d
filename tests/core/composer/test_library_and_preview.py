"""Saved templates and drafts with versions; previews that draw each platform's truncation and dropped fields."""

from __future__ import annotations

from typing import Any

import pytest

from core.composer.content import Button, PushContent
from core.composer.library import CompositionKind, ContentLibrary
from core.composer.links import LinkPolicy
from core.composer.personalise import Personaliser
from core.composer.preview import preview
from core.composer.recipients import RecipientContext, recipient_variables
from core.composer.templates import TemplateError
from core.domain import Platform
from core.domain.display import DISPLAY_RULES
from core.errors import ValidationError
from core.persistence import Database
from tests.core.sending.conftest import add_campaign

CONTENT = PushContent(title="Hi {{ first_name | default: 'there' }}", body="Your cart is waiting",
                      deep_link="https://Shop.example/cart")


def test_every_save_is_a_version_and_an_unchanged_save_adds_none(db: Database) -> None:
    library = ContentLibrary(db, links=LinkPolicy())
    v1 = library.save_template("Cart reminder", CONTENT, actor="ana")
    v2 = library.save_template("Cart reminder", PushContent(title="Hey {{ first_name }}", body="Still there?"),
                               actor="bo", note="shorter")
    same = library.save_template("Cart reminder", PushContent(title="Hey {{ first_name }}", body="Still there?"),
                                 actor="bo")
    assert (v1.version, v2.version, same.version) == (1, 2, 2)
    assert v1.content.deep_link == "https://shop.example/cart"  # stored normalised
    history = library.versions(v1.composition_id)
    assert [(v.version, v.saved_by, v.note) for v in history] == [(1, "ana", None), (2, "bo", "shorter")]
    assert library.load(v1.composition_id, 1).content.title == CONTENT.title
    restored = library.restore(v1.composition_id, 1, actor="ana")
    assert restored.version == 3 and restored.content.title == CONTENT.title
    assert [s.name for s in library.summaries(CompositionKind.TEMPLATE)] == ["Cart reminder"]


def test_a_draft_from_a_template_is_applied_to_its_campaign(db: Database) -> None:
    library = ContentLibrary(db, links=LinkPolicy())
    template = library.save_template("Welcome", CONTENT, actor="ana")
    campaign = add_campaign(db)
    draft = library.draft_from_template(template.composition_id, "Welcome — May", actor="ana", campaign_id=campaign)
    assert draft.kind is CompositionKind.DRAFT and draft.note == "from template 'Welcome' version 1"
    assert library.apply_draft(draft.composition_id, actor="ana") == campaign
    from core.campaigns.service import CampaignService

    assert CampaignService(db).content(campaign).title == CONTENT.title


@pytest.mark.parametrize(("content", "error"), [
    (PushContent(title="Hi {{ first_name ", body="b"), "title, line 1, column 4"),
    (PushContent(title="t", deep_link="http://shop.example"), "plain http"),
])
def test_nothing_is_saved_that_could_not_be_sent(db: Database, content: PushContent, error: str) -> None:
    library = ContentLibrary(db, links=LinkPolicy())
    with pytest.raises((TemplateError, ValidationError), match=error):
        library.save_draft("Broken", content, actor="ana")
    assert list(library.summaries()) == []


class NoDirectory:
    def load(self, device_ids: Any) -> dict[int, RecipientContext]:
        return {}


def test_the_preview_cuts_and_drops_per_platform() -> None:
    personaliser = Personaliser(directory=NoDirectory(), links=LinkPolicy())  # type: ignore[arg-type]
    who = RecipientContext(1, 1, "u-1", Platform.IOS, "en", "t",
                           recipient_variables(external_id="u-1", attributes={"first_name": "Ana"}))
    long_title = "Hi {{ first_name }}, " + "👩‍👩‍👧‍👦" * 70
    content = PushContent(title=long_title, subtitle="Only today", body="b" * 300, icon="https://img.example/i.png",
                          image="https://img.example/big.png", sound="chime", badge=2,
                          buttons=tuple(Button(f"b{i}", f"Action {i}", "https://shop.example") for i in range(3)))
    shown = preview(content, who, personaliser)
    android = shown.platforms[Platform.ANDROID].shown
    ios = shown.platforms[Platform.IOS].shown
    web = shown.platforms[Platform.WEB].shown
    assert android is not None and ios is not None and web is not None
    assert android.title.endswith("…") and android.title.startswith("Hi Ana, ")
    assert "\u200d" not in android.title[-2:]  # no family emoji cut in half
    assert len(android.body) == DISPLAY_RULES[Platform.ANDROID].body_max and "truncated" not in android.dropped
    assert android.subtitle == "" and "subtitle" in android.dropped and android.buttons == ()
    assert ios.subtitle == "Only today" and ios.icon is None and "icon" in ios.dropped and len(ios.buttons) == 3
    assert len(web.buttons) == 2 and "buttons[2:]" in web.dropped and web.badge is None and "badge" in web.dropped
    for platform, view in shown.platforms.items():
        assert view.error is None and view.size == len(view.payload or b"") <= view.limit, platform
