"""Simulated users: the same seed gives the same run, and content moves them in the documented direction."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from simulator.behaviour import BehaviourModel, Reaction, ReactionKind, first_name_for
from simulator.inbound import Button, RenderedNotification

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PLAIN = RenderedNotification(title="New arrivals", body="Have a look at this week's picks")
USERS = 4000


def reactions(model: BehaviourModel, note: RenderedNotification, at: datetime = NOON,
              timezone: str = "UTC") -> list[Reaction]:
    return [
        model.react(device_id=i, user=f"user-{i}", timezone=timezone, delivery_key=1000 + i, note=note, at=at)
        for i in range(USERS)
    ]


def click_rate(model: BehaviourModel, note: RenderedNotification, at: datetime = NOON) -> float:
    return sum(r.kind is ReactionKind.CLICK for r in reactions(model, note, at)) / USERS


def test_the_same_seed_gives_the_same_reactions_whatever_the_order() -> None:
    first = reactions(BehaviourModel(7), PLAIN)
    model = BehaviourModel(7)
    backwards = [
        model.react(device_id=i, user=f"user-{i}", timezone="UTC", delivery_key=1000 + i, note=PLAIN, at=NOON)
        for i in reversed(range(USERS))
    ]
    assert first == backwards[::-1]
    assert first != reactions(BehaviourModel(8), PLAIN)


def test_traits_are_per_user_and_in_range() -> None:
    model = BehaviourModel(3)
    traits = [model.traits(f"user-{i}") for i in range(2000)]
    assert model.traits("user-5") == BehaviourModel(3).traits("user-5")
    assert all(0 <= t.engagement <= 1 and 7 <= t.preferred_hour <= 21 and 3 <= t.preferred_span <= 5
               and 0 <= t.price_sensitivity <= 1 and 0 <= t.churn_propensity <= 1 for t in traits)
    mean_engagement = sum(t.engagement for t in traits) / len(traits)
    assert 0.3 < mean_engagement < 0.45
    assert len({t.first_name for t in traits}) > 10


def test_outcomes_are_a_plausible_mix() -> None:
    kinds = Counter(r.kind for r in reactions(BehaviourModel(1), PLAIN))
    assert 0.03 < kinds[ReactionKind.CLICK] / USERS < 0.25
    assert kinds[ReactionKind.DISMISS] > kinds[ReactionKind.CLICK]
    assert kinds[ReactionKind.IGNORE] > 0


@pytest.mark.parametrize(
    "better",
    [
        replace(PLAIN, image="https://cdn.example/hero.png"),
        replace(PLAIN, buttons=(Button("shop", "Shop now"),)),
        replace(PLAIN, title="New arrivals 🎉"),
    ],
    ids=["image", "buttons", "emoji"],
)
def test_content_features_raise_the_click_rate(better: RenderedNotification) -> None:
    model = BehaviourModel(11)
    assert click_rate(model, better) > click_rate(model, PLAIN) * 1.05


def test_a_personalised_title_wins_an_ab_test() -> None:
    model = BehaviourModel(5)
    plain = personal = 0
    for i in range(USERS):
        user = f"user-{i}"
        named = replace(PLAIN, title=f"{first_name_for(user)}, new arrivals for you")
        generic = replace(PLAIN, title="Someone, new arrivals for you")
        plain += model.react(device_id=i, user=user, timezone="UTC", delivery_key=i, note=generic,
                             at=NOON).kind is ReactionKind.CLICK
        personal += model.react(device_id=i, user=user, timezone="UTC", delivery_key=i, note=named,
                                at=NOON).kind is ReactionKind.CLICK
    assert personal > plain * 1.15


def test_long_texts_and_night_sends_lose_clicks() -> None:
    model = BehaviourModel(2)
    long_note = replace(PLAIN, body="A very long explanation that nobody reads to the end. " * 4)
    assert click_rate(model, long_note) < click_rate(model, PLAIN) * 0.95
    assert click_rate(model, PLAIN, NOON.replace(hour=3)) < click_rate(model, PLAIN) * 0.7


def test_local_send_hour_follows_the_device_time_zone() -> None:
    model = BehaviourModel(2)
    at_night_in_tokyo = NOON.replace(hour=18)
    tokyo = reactions(model, PLAIN, at_night_in_tokyo, timezone="Asia/Tokyo")
    london = reactions(model, PLAIN, at_night_in_tokyo, timezone="Europe/London")
    clicks = {name: sum(r.kind is ReactionKind.CLICK for r in rs) for name, rs in (("tokyo", tokyo),
                                                                                    ("london", london))}
    assert clicks["tokyo"] < clicks["london"]


def test_discount_wording_raises_conversion_among_clickers() -> None:
    model = BehaviourModel(4)
    sale = replace(PLAIN, body="30% off everything this weekend")

    def conversions(note: RenderedNotification) -> int:
        return sum(r.converts for r in reactions(model, note))

    assert conversions(sale) > conversions(PLAIN)
    revenues = [r.revenue for r in reactions(model, sale) if r.converts]
    assert revenues and all(r > 0 for r in revenues)
    assert all(r.revenue == 0 for r in reactions(model, PLAIN) if not r.converts)


def test_button_clicks_mostly_land_on_the_first_button() -> None:
    model = BehaviourModel(9)
    note = replace(PLAIN, buttons=(Button("buy", "Buy"), Button("later", "Later")))
    buttons = Counter(r.button for r in reactions(model, note) if r.kind is ReactionKind.CLICK)
    assert buttons["buy"] > buttons["later"] > 0
    assert buttons[None] > 0


def test_time_scale_shortens_every_delay() -> None:
    slow = reactions(BehaviourModel(6), PLAIN)
    fast = reactions(BehaviourModel(6, time_scale=0.01), PLAIN)
    assert [r.kind for r in slow] == [r.kind for r in fast]
    assert all(f.delay_s == pytest.approx(s.delay_s * 0.01) for s, f in zip(slow, fast, strict=True)
               if s.delay_s < 3600)


def test_churn_prone_users_sometimes_opt_out_or_uninstall_after_a_dismissal() -> None:
    model = BehaviourModel(13)
    night = reactions(model, PLAIN, NOON.replace(hour=2))
    opt_outs = [r for r in night if r.opts_out]
    uninstalls = [r for r in night if r.uninstalls]
    assert opt_outs and uninstalls and len(uninstalls) < len(opt_outs) < USERS * 0.05
    assert all(r.kind is ReactionKind.DISMISS for r in opt_outs + uninstalls)
