"""A virtual device's pending queue, tray and recall handling, per platform, as PROTOCOLS.md describes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.domain import Platform, Provider
from simulator.device import (
    MAX_FCM_NON_COLLAPSIBLE,
    HeraldMeta,
    Step,
    VirtualDevice,
)
from simulator.inbound import Button, InboundPush, PushKind, RenderedNotification

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PLATFORMS = {Provider.FCM: Platform.ANDROID, Provider.APNS: Platform.IOS, Provider.WEBPUSH: Platform.WEB}


def make_device(provider: Provider, *, online: bool = True) -> VirtualDevice:
    device = VirtualDevice(1, PLATFORMS[provider], provider, "user-1", "en_US", "UTC", "1.0", online=online)
    device.token = "tok-1"
    return device


def herald_data(provider: Provider, delivery: int | None, recall: tuple[list[str], list[int]] | None) -> dict[str, Any]:
    """Herald's payload part, shaped the way each provider carries it (core.domain.push_contract)."""
    if provider is Provider.FCM:
        if recall is not None:
            return {"herald_type": "recall", "herald_recall_tags": ",".join(recall[0]),
                    "herald_recall_ids": ",".join(map(str, recall[1]))}
        return {"herald_type": "message", "herald_delivery_id": str(delivery), "herald_campaign_id": "7"}
    if recall is not None:
        keys = "collapse_ids" if provider is Provider.APNS else "tags"
        return {"herald": {"type": "recall", keys: recall[0], "delivery_ids": recall[1]}}
    return {"herald": {"type": "message", "delivery_id": delivery, "campaign_id": "7"}}


def push(
    provider: Provider,
    message_id: str,
    delivery: int | None = None,
    *,
    tray_key: str | None = None,
    collapse: str | None = None,
    ttl: float | None = 3600,
    at: datetime = NOW,
    recall: tuple[list[str], list[int]] | None = None,
) -> InboundPush:
    note = None if recall else RenderedNotification(title=f"title {message_id}", body="body", tray_key=tray_key)
    return InboundPush(
        provider=provider,
        token="tok-1",
        message_id=message_id,
        kind=PushKind.DATA if recall else PushKind.NOTIFICATION,
        received_at=at,
        notification=note,
        data=herald_data(provider, delivery, recall),
        collapse_key=collapse,
        expires_at=None if ttl is None else at + timedelta(seconds=ttl),
    )


def steps(outcomes: list[Any], step: Step) -> list[str]:
    return [o.message_id for o in outcomes if o.step is step]


def tray_ids(device: VirtualDevice) -> list[str]:
    return [e.message_id for e in device.tray or ()]


@pytest.mark.parametrize("provider", list(Provider))
def test_an_online_device_shows_a_notification_with_its_delivery(provider: Provider) -> None:
    device = make_device(provider)
    outcomes = device.receive(push(provider, "m1", 41), NOW)
    assert [o.step for o in outcomes] == [Step.DELIVERED, Step.DISPLAYED]
    assert outcomes[0].delivery_id == 41 and outcomes[0].campaign_id == "7"
    entry = device.tray[0] if device.tray else None
    assert entry is not None and entry.notification.title == "title m1"
    assert (entry.delivery_id, entry.campaign_id, entry.displayed_at) == (41, "7", NOW)


@pytest.mark.parametrize("provider", list(Provider))
def test_same_tray_key_replaces_the_displayed_notification(provider: Provider) -> None:
    device = make_device(provider)
    device.receive(push(provider, "m1", 1, tray_key="sale"), NOW)
    device.receive(push(provider, "m2", 2, tray_key="other"), NOW)
    outcomes = device.receive(push(provider, "m3", 3, tray_key="sale"), NOW)
    assert steps(outcomes, Step.REPLACED) == ["m1"]
    assert tray_ids(device) == ["m2", "m3"]


def test_a_resend_of_the_same_message_or_delivery_is_not_shown_twice() -> None:
    device = make_device(Provider.FCM)
    device.receive(push(Provider.FCM, "m1", 5), NOW)
    assert [o.step for o in device.receive(push(Provider.FCM, "m1", 5), NOW)] == [Step.DUPLICATE]
    assert [o.step for o in device.receive(push(Provider.FCM, "m1-resent", 5), NOW)] == [Step.DUPLICATE]
    assert tray_ids(device) == ["m1"]


def test_with_push_permission_off_a_push_is_delivered_but_not_shown() -> None:
    device = make_device(Provider.APNS)
    device.push_enabled = False
    assert [o.step for o in device.receive(push(Provider.APNS, "m1", 1), NOW)] == [Step.DELIVERED]
    assert not device.tray


@pytest.mark.parametrize("provider", list(Provider))
def test_offline_messages_arrive_in_order_on_reconnect_minus_expired_and_now_or_never(provider: Provider) -> None:
    device = make_device(provider, online=False)
    assert steps(device.receive(push(provider, "now-or-never", 1, ttl=None), NOW), Step.DROPPED) == ["now-or-never"]
    if provider is Provider.APNS:
        device.receive(push(provider, "a", 2, ttl=60), NOW)
        device.receive(push(provider, "b", 3, ttl=7200), NOW)
        outcomes = device.connect(NOW + timedelta(hours=1))
        assert steps(outcomes, Step.DISPLAYED) == ["b"]
        return
    device.receive(push(provider, "short", 2, ttl=60), NOW)
    device.receive(push(provider, "first", 3), NOW)
    device.receive(push(provider, "second", 4), NOW)
    later = NOW + timedelta(minutes=5)
    outcomes = device.connect(later)
    assert steps(outcomes, Step.EXPIRED) == ["short"]
    assert steps(outcomes, Step.DISPLAYED) == ["first", "second"]
    assert device.pending is None and device.online
    assert all(e.received_at == NOW and e.displayed_at == later for e in device.tray or ())


def test_apns_keeps_only_the_newest_pending_notification() -> None:
    device = make_device(Provider.APNS, online=False)
    device.receive(push(Provider.APNS, "a", 1), NOW)
    outcomes = device.receive(push(Provider.APNS, "b", 2, collapse="x"), NOW)
    assert steps(outcomes, Step.COLLAPSED) == ["a"]
    device.receive(push(Provider.APNS, "c", 3), NOW)
    assert [p.push.message_id for p in device.pending or ()] == ["c"]


@pytest.mark.parametrize("provider", [Provider.FCM, Provider.WEBPUSH])
def test_collapse_key_or_topic_replaces_a_pending_message(provider: Provider) -> None:
    device = make_device(provider, online=False)
    device.receive(push(provider, "score-1", 1, collapse="score"), NOW)
    device.receive(push(provider, "news", 2), NOW)
    outcomes = device.receive(push(provider, "score-2", 3, collapse="score"), NOW)
    assert steps(outcomes, Step.COLLAPSED) == ["score-1"]
    assert steps(device.connect(NOW), Step.DISPLAYED) == ["news", "score-2"]


def test_fcm_stores_at_most_four_collapse_keys_per_offline_device() -> None:
    device = make_device(Provider.FCM, online=False)
    for i in range(5):
        device.receive(push(Provider.FCM, f"k{i}", i, collapse=f"key{i}"), NOW)
    assert [p.push.collapse_key for p in device.pending or ()] == ["key1", "key2", "key3", "key4"]


def test_fcm_drops_non_collapsible_messages_past_one_hundred_pending() -> None:
    device = make_device(Provider.FCM, online=False)
    for i in range(MAX_FCM_NON_COLLAPSIBLE):
        device.receive(push(Provider.FCM, f"m{i}", i), NOW)
    assert steps(device.receive(push(Provider.FCM, "over", 999), NOW), Step.DROPPED) == ["over"]
    assert [o.step for o in device.receive(push(Provider.FCM, "c", 1000, collapse="k"), NOW)] == [Step.QUEUED]
    assert len(device.pending or ()) == MAX_FCM_NON_COLLAPSIBLE + 1


@pytest.mark.parametrize("provider", list(Provider))
def test_recall_removes_the_named_notifications_and_nothing_else(provider: Provider) -> None:
    device = make_device(provider)
    device.receive(push(provider, "by-key", 1, tray_key="promo"), NOW)
    device.receive(push(provider, "by-id", 2, tray_key="other"), NOW)
    device.receive(push(provider, "keep", 3, tray_key="keep"), NOW)
    device.receive(push(provider, "keep-too", 4), NOW)
    outcomes = device.receive(push(provider, "recall", None, recall=(["promo"], [2])), NOW)
    recalled = [o for o in outcomes if o.step is Step.RECALLED]
    assert sorted((o.message_id, o.delivery_id) for o in recalled) == [("by-id", 2), ("by-key", 1)]
    assert tray_ids(device) == ["keep", "keep-too"]


@pytest.mark.parametrize("provider", list(Provider))
def test_a_clicked_notification_is_gone_before_a_recall_arrives(provider: Provider) -> None:
    device = make_device(provider)
    device.receive(push(provider, "m1", 1), NOW)
    entry = device.find(delivery_id=1)
    assert entry is not None and device.click(entry) is not None
    assert steps(device.receive(push(provider, "recall", None, recall=([], [1])), NOW), Step.RECALLED) == []


@pytest.mark.parametrize("provider", [Provider.FCM, Provider.WEBPUSH])
def test_a_recall_waiting_with_its_notification_drops_it_on_reconnect(provider: Provider) -> None:
    device = make_device(provider, online=False)
    device.receive(push(provider, "recalled", 1, tray_key="promo"), NOW)
    device.receive(push(provider, "kept", 2), NOW)
    device.receive(push(provider, "recall", None, recall=(["promo"], [])), NOW)
    outcomes = device.connect(NOW)
    assert steps(outcomes, Step.RECALLED) == ["recalled"]
    assert steps(outcomes, Step.DISPLAYED) == ["kept"]
    assert tray_ids(device) == ["kept"]


def test_an_apns_recall_replaces_the_one_pending_notification() -> None:
    device = make_device(Provider.APNS, online=False)
    device.receive(push(Provider.APNS, "recalled", 1, tray_key="promo"), NOW)
    outcomes = device.receive(push(Provider.APNS, "recall", None, recall=(["promo"], [1])), NOW)
    assert steps(outcomes, Step.COLLAPSED) == ["recalled"]
    assert steps(device.connect(NOW), Step.DISPLAYED) == []
    assert not device.tray


def test_click_on_a_button_leaves_the_tray_and_names_the_button() -> None:
    device = make_device(Provider.FCM)
    note = RenderedNotification(title="t", buttons=(Button("buy", "Buy"), Button("later", "Later")))
    device.receive(InboundPush(Provider.FCM, "tok-1", "m1", PushKind.NOTIFICATION, NOW, note,
                               {"herald_delivery_id": "9"}, expires_at=NOW), NOW)
    entry = device.find()
    assert entry is not None
    with pytest.raises(ValueError):
        device.click(entry, "nope")
    outcome = device.click(entry, "later")
    assert outcome is not None and (outcome.step, outcome.button, outcome.delivery_id) == (Step.CLICKED, "later", 9)
    assert device.click(entry) is None and not device.tray


def test_uninstall_clears_the_app_and_reinstall_gives_a_new_address() -> None:
    device = make_device(Provider.FCM)
    device.receive(push(Provider.FCM, "m1", 1), NOW)
    device.uninstall(NOW)
    assert not device.installed and device.uninstalled_at == NOW and not device.tray
    device.reinstall("tok-2", None)
    assert device.installed and device.address == "tok-2" and device.generation == 1


def test_fcm_device_rate_allows_240_a_minute_refilled_over_time() -> None:
    device = make_device(Provider.FCM)
    start = NOW.timestamp()
    assert all(device.take_rate_slot(start) for _ in range(240))
    assert not device.take_rate_slot(start)
    assert device.take_rate_slot(start + 0.25)
    assert not device.take_rate_slot(start + 0.25)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"herald_type": "recall", "herald_recall_tags": "a, b", "herald_recall_ids": "3,x,4"},
         HeraldMeta("recall", None, None, frozenset({"a", "b"}), frozenset({3, 4}))),
        ({"herald": {"type": "recall", "collapse_ids": ["c"], "delivery_ids": ["5", 6]}},
         HeraldMeta("recall", None, None, frozenset({"c"}), frozenset({5, 6}))),
        ({"data": {"herald": {"delivery_id": "12", "campaign_id": 3}}}, HeraldMeta("message", 12, "3")),
        ({"title": "no herald here"}, HeraldMeta()),
    ],
)
def test_herald_meta_is_read_from_each_payload_shape(data: dict[str, Any], expected: HeraldMeta) -> None:
    assert HeraldMeta.parse(data) == expected
