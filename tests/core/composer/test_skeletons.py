"""Personalised copies reuse the payload skeleton of their content: the bytes are exactly the full build's."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.composer.content import Button, PushContent
from core.composer.payloads import Target, build_request
from core.domain import Platform, Provider
from core.errors import PayloadTooLarge

BASE = PushContent(title="{{ t }}", body="{{ b }}", subtitle="Sub", image="https://img.example/{{ i }}.png",
                   deep_link="https://shop.example/{{ u }}", badge=2, sound="chime", replace_key="k",
                   buttons=(Button("buy", "Buy", "https://shop.example/b"), Button("no", "No")),
                   data={"cart": "c-1", "x": "987654321012345679"})
TARGETS = [
    Target(5, 3, Platform.ANDROID, Provider.FCM, "tok-fcm"),
    Target(5, 3, Platform.IOS, Provider.APNS, "a" * 64),
    Target(5, 3, Platform.WEB, Provider.WEBPUSH, "https://push.example/1", {"endpoint": "https://push.example/1"}),
]
texts = st.lists(st.sampled_from([*"ab \"\\\n\t/é€😀", "👍🏽", "\u2028", "987654321012345679"]),
                 max_size=20).map("".join)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.provider.value)
@given(title=texts, body=texts, link=texts, delivery=st.integers(1, 10**15))
@settings(max_examples=150, deadline=None)
def test_a_personalised_copy_gets_exactly_the_full_builds_bytes(
    target: Target, title: str, body: str, link: str, delivery: int
) -> None:
    assume(title or body)
    copy = BASE.rendered({"title": title, "body": body, "deep_link": f"https://shop.example/{link}" if link else None})
    plain = dataclasses.replace(copy)  # the same content without its origin: always the full build
    assert plain.origin is None and copy.origin is not None
    where = dataclasses.replace(target, delivery_id=delivery)
    try:
        expected = build_request(plain, where, 1_780_000_000)
    except PayloadTooLarge:
        with pytest.raises(PayloadTooLarge):
            build_request(copy, where, 1_780_000_000)
        return
    assert build_request(copy, where, 1_780_000_000) == expected


def test_an_oversized_copy_still_reports_platform_recipient_and_excess() -> None:
    base = dataclasses.replace(BASE, data={})  # no sentinel digits: the skeleton path is taken
    assert build_request(base.rendered({"title": "t", "body": "b"}), TARGETS[1], 0).payload.count(b"987") == 0
    copy = base.rendered({"title": "t", "body": "😀" * 1100})
    with pytest.raises(PayloadTooLarge, match="delivery 5"):
        build_request(copy, TARGETS[1], 0)
