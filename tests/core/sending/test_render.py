"""Fast Push rendering: one prototype per variant and platform, stamped per device, byte-identical."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.composer.content import Button, PushContent
from core.composer.payloads import build_recall, build_request
from core.domain import DeliveryKind, Platform, Provider
from core.errors import ValidationError
from core.sending.outbox import ClaimedDelivery
from core.sending.render import RequestRenderer, is_personalised, target_of
from tests.core.sending.conftest import T0

CONTENT = PushContent(title="Sale", body="20% off — só hoje", image="https://img.example/a.png",
                      buttons=(Button("buy", "Buy", "https://shop.example"),), deep_link="https://shop.example",
                      data={"k": "v"}, badge=1)


def claimed(i: int, provider: Provider, kind: DeliveryKind = DeliveryKind.MESSAGE) -> ClaimedDelivery:
    platform = {Provider.FCM: Platform.ANDROID, Provider.APNS: Platform.IOS, Provider.WEBPUSH: Platform.WEB}[provider]
    sub = {"endpoint": f"https://push.example/{i}", "keys": {"p256dh": "p", "auth": "a"}}
    recall_of = 41 if kind is DeliveryKind.RECALL else None
    return ClaimedDelivery(i, 7, 100 + i, None, kind, provider, 1, platform, f"token-{i}",
                           sub if provider is Provider.WEBPUSH else None, T0, recall_of)


@pytest.mark.parametrize("provider", list(Provider))
def test_stamped_requests_equal_what_build_request_makes(clock: ManualClock, provider: Provider) -> None:
    renderer = RequestRenderer(clock)
    for i in (1, 42, 10**9 + 7):
        d = claimed(i, provider)
        assert renderer.render(CONTENT, d) == build_request(CONTENT, target_of(d), int(clock.now().timestamp()))
        clock.advance(1.5)
    assert renderer.fast_hits == 3 and renderer.slow_builds == 0


def test_content_containing_the_sentinel_digits_falls_back_safely(clock: ManualClock) -> None:
    odd = PushContent(title="code 987654321012345678", body="x")
    renderer = RequestRenderer(clock)
    d = claimed(5, Provider.APNS)
    assert renderer.render(odd, d) == build_request(odd, target_of(d), int(clock.now().timestamp()))
    assert renderer.slow_builds == 1


def test_an_oversized_payload_is_reported_for_the_device(clock: ManualClock) -> None:
    big = PushContent(title="t", body="x" * 4000)
    with pytest.raises(ValidationError, match="delivery 9"):
        RequestRenderer(clock).render(big, claimed(9, Provider.FCM))


def test_recall_rows_build_the_recall_signal(clock: ManualClock) -> None:
    d = claimed(50, Provider.FCM, DeliveryKind.RECALL)
    assert RequestRenderer(clock).render(CONTENT, d) == build_recall(target_of(d), ["herald-7"], [41], 86400)


def test_personalised_content_goes_through_the_personaliser(clock: ManualClock) -> None:
    templated = PushContent(title="Hi {{ first_name }}", body="b")
    assert is_personalised(templated) and not is_personalised(CONTENT)
    with pytest.raises(ValidationError):
        RequestRenderer(clock).render(templated, claimed(1, Provider.APNS))
    renderer = RequestRenderer(clock, lambda c, d: PushContent(title=f"Hi device {d.device_id}", body=c.body))
    request = renderer.render(templated, claimed(1, Provider.APNS))
    assert b"Hi device 101" in request.payload  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=1).total_seconds())
