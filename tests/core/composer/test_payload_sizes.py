"""Payload sizes at the exact limits, with multi-byte characters and emoji; the opt-in trim never splits one."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.composer.content import PushContent
from core.composer.payloads import Target, build_request, payload_limit
from core.domain import Platform, Provider
from core.domain.text import ELLIPSIS, cluster_starts, grapheme_clusters
from core.errors import PayloadTooLarge
from core.providers.base import ApnsRequest, FcmRequest, PushRequest

TARGETS = {
    Provider.FCM: Target(12, 3, Platform.ANDROID, Provider.FCM, "f" * 163, recipient="user u-1"),
    Provider.APNS: Target(12, 3, Platform.IOS, Provider.APNS, "a" * 64, recipient="user u-1"),
    Provider.WEBPUSH: Target(12, 3, Platform.WEB, Provider.WEBPUSH, "https://push.example/1",
                             {"endpoint": "https://push.example/1"}, recipient="user u-1"),
}
#: Pieces a body is made of: ASCII, 2-, 3- and 4-byte characters, JSON escapes, combining marks, emoji
#: with skin tones, ZWJ families and flags.
PIECES = ["a", " ", "é", "ß", "€", "中", "😀", "\"", "\\", "\n", "e\u0301", "👍🏽", "👩\u200d👩\u200d👧\u200d👦",
          "🇫🇷", "\u0007"]
bodies = st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map("".join)


def sent_size(request: PushRequest) -> int:
    """The size the limit applies to, measured on the bytes sent."""
    if isinstance(request, FcmRequest):
        return len(orjson.dumps({"message": {**request.message, "token": request.token}}))
    return len(request.payload)


def sent_body(request: PushRequest) -> str:
    if isinstance(request, FcmRequest):
        return str(request.message["notification"]["body"])
    document = orjson.loads(request.payload)
    return str(document["aps"]["alert"]["body"] if isinstance(request, ApnsRequest) else document["body"])


def padded_to(provider: Provider, base: PushContent, size: int) -> PushContent:
    """``base`` with ASCII padding in the title so that its payload is exactly ``size`` bytes."""
    probe = build_request(dataclasses.replace(base, title="T"), TARGETS[provider], 0)
    missing = size - sent_size(probe)
    assert missing >= 0
    return dataclasses.replace(base, title="T" + "x" * missing)


@pytest.mark.parametrize("provider", list(Provider))
@given(body=bodies)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_exactly_at_the_limit_goes_one_byte_over_is_refused(provider: Provider, body: str) -> None:
    limit = payload_limit(provider)
    content = padded_to(provider, PushContent(title="T", body=body, image="https://img.example/😀.png"), limit)
    request = build_request(content, TARGETS[provider], 0)
    assert sent_size(request) == limit
    over = dataclasses.replace(content, title=content.title + "x")
    with pytest.raises(PayloadTooLarge) as caught:
        build_request(over, TARGETS[provider], 0)
    message = str(caught.value)
    assert caught.value.size == limit + 1 and caught.value.limit == limit
    assert {"fcm": "fcm", "apns": "apns", "webpush": "webpush"}[provider.value] in message
    assert "delivery 12 (user u-1)" in message and "1 over" in message


@pytest.mark.parametrize("provider", list(Provider))
@given(body=bodies, excess=st.integers(min_value=1, max_value=120))
@settings(max_examples=60, deadline=None)
def test_the_trim_fits_exactly_and_cuts_only_between_user_perceived_characters(
    provider: Provider, body: str, excess: int
) -> None:
    limit = payload_limit(provider)
    base = PushContent(title="T", body="z" * 128 + body * 3, trim_body=True)  # always enough body to cut
    fitted = padded_to(provider, base, limit)
    over = dataclasses.replace(fitted, title=fitted.title + "x" * excess)
    request = build_request(over, TARGETS[provider], 0)
    assert sent_size(request) <= limit
    shown = sent_body(request)
    if shown == over.body:
        return
    assert shown.endswith(ELLIPSIS)
    kept = shown[: -len(ELLIPSIS)]
    assert over.body.startswith(kept)
    # The cut is at a cluster boundary of the original body: no emoji, flag or accent was split.
    assert len(kept) in {*cluster_starts(over.body), len(over.body)} or kept == over.body[: len(kept)].rstrip()
    assert grapheme_clusters(kept) == grapheme_clusters(over.body)[: len(grapheme_clusters(kept))]


@pytest.mark.parametrize("provider", list(Provider))
def test_without_the_opt_in_an_oversized_body_names_platform_recipient_and_excess(provider: Provider) -> None:
    content = PushContent(title="Hi", body="😀" * 1100)
    with pytest.raises(PayloadTooLarge, match=r"delivery 12 \(user u-1\) is [\d,]+ bytes, [\d,]+ over"):
        build_request(content, TARGETS[provider], 0)


def test_a_trim_that_cannot_help_says_so() -> None:
    content = PushContent(title="x" * 5000, body="short", trim_body=True)
    with pytest.raises(PayloadTooLarge, match="even with the body trimmed"):
        build_request(content, TARGETS[Provider.APNS], 0)
