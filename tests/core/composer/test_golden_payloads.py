"""Golden files: the exact three payloads of a rich message and of a silent one.

A change to what Herald puts on the wire shows up as a diff of ``tests/fixtures/golden/*.json``. After a
deliberate change, regenerate them with ``HERALD_UPDATE_GOLDEN=1 pytest tests/core/composer`` and review the
diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.composer.content import Button, PushContent
from core.composer.payloads import Target, build_request
from core.domain import Platform, Provider
from core.providers.base import ApnsRequest, FcmRequest, PushRequest, WebPushRequest

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"
NOW = 1_780_000_000

RICH = PushContent(
    title="Your cart misses you, Ana 👟", subtitle="Free delivery today", body="Red shoes are 20% off — tap to order.",
    image="https://img.shop.example/red-shoes.jpg", icon="ic_shop",
    buttons=(Button("buy", "Buy now", "https://shop.example/cart?buy=1"),
             Button("later", "Remind me later", "shop://remind"),
             Button("stop", "Stop these", "https://shop.example/settings")),
    deep_link="https://shop.example/cart", sound="chime.caf", badge=3, channel="promotions",
    category="CART_ACTIONS", interruption_level="time-sensitive", thread_id="cart", priority="high",
    ttl_seconds=7200, replace_key="cart-reminder", data={"cart_id": "c-981"}, require_interaction=True,
)
SILENT = PushContent(silent=True, priority="normal", ttl_seconds=600, replace_key="sync",
                     data={"sync": "catalogue", "since": "2026-11-29T00:00:00Z"})
TARGETS = {
    Provider.FCM: Target(9001, 42, Platform.ANDROID, Provider.FCM, "fcm-token-1"),
    Provider.APNS: Target(9002, 42, Platform.IOS, Provider.APNS, "a1" * 32),
    Provider.WEBPUSH: Target(9003, 42, Platform.WEB, Provider.WEBPUSH, "https://push.example/s/1",
                             {"endpoint": "https://push.example/s/1", "keys": {"p256dh": "k", "auth": "a"}}),
}


def wire(request: PushRequest) -> dict[str, Any]:
    """The request as it goes out: the exact bytes (``raw``), the body decoded for review, and the headers."""
    if isinstance(request, FcmRequest):
        raw = orjson.dumps({"message": {**request.message, "token": request.token}})
        return {"body": orjson.loads(raw), "bytes": len(raw), "raw": raw.decode()}
    if isinstance(request, ApnsRequest):
        return {"headers": {"apns-push-type": request.push_type, "apns-priority": request.priority,
                            "apns-expiration": request.expiration, "apns-collapse-id": request.collapse_id,
                            "apns-id": request.apns_id},
                "body": orjson.loads(request.payload), "bytes": len(request.payload), "raw": request.payload.decode()}
    assert isinstance(request, WebPushRequest)
    return {"headers": {"TTL": request.ttl, "Urgency": request.urgency, "Topic": request.topic},
            "body": orjson.loads(request.payload), "bytes": len(request.payload), "raw": request.payload.decode()}


@pytest.mark.parametrize("name,content", [("rich", RICH), ("silent", SILENT)])
@pytest.mark.parametrize("provider", list(Provider))
def test_payload_matches_its_golden_file(name: str, content: PushContent, provider: Provider) -> None:
    actual = wire(build_request(content, TARGETS[provider], NOW))
    path = GOLDEN / f"{name}_{provider.value}.json"
    if os.environ.get("HERALD_UPDATE_GOLDEN"):
        path.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    assert path.exists(), f"missing golden file {path}; run with HERALD_UPDATE_GOLDEN=1 once"
    assert actual == orjson.loads(path.read_bytes())


def test_the_rich_message_carries_every_field_on_each_platform() -> None:
    fcm = wire(build_request(RICH, TARGETS[Provider.FCM], NOW))["body"]["message"]
    note = fcm["android"]["notification"]
    assert (note["image"], note["channel_id"], note["tag"], note["click_action"], note["notification_count"]) == (
        RICH.image, "promotions", "cart-reminder", RICH.deep_link, 3)
    assert fcm["android"]["collapse_key"] == "cart-reminder" and fcm["android"]["ttl"] == "7200s"
    assert len(orjson.loads(fcm["data"]["herald_buttons"])) == 3
    apns = wire(build_request(RICH, TARGETS[Provider.APNS], NOW))
    aps = apns["body"]["aps"]
    assert aps["alert"] == {"title": RICH.title, "subtitle": RICH.subtitle, "body": RICH.body}
    assert (aps["badge"], aps["sound"], aps["category"], aps["mutable-content"], aps["thread-id"],
            aps["interruption-level"]) == (3, "chime.caf", "CART_ACTIONS", 1, "cart", "time-sensitive")
    assert apns["body"]["image_url"] == RICH.image
    assert apns["headers"]["apns-collapse-id"] == "cart-reminder" and apns["headers"]["apns-priority"] == 10
    web = wire(build_request(RICH, TARGETS[Provider.WEBPUSH], NOW))["body"]
    assert [a["action"] for a in web["actions"]] == ["buy", "later", "stop"]
    assert (web["tag"], web["renotify"], web["requireInteraction"], web["data"]["url"]) == (
        "cart-reminder", True, True, RICH.deep_link)


def test_the_silent_message_shows_nothing_anywhere() -> None:
    fcm = wire(build_request(SILENT, TARGETS[Provider.FCM], NOW))["body"]["message"]
    assert "notification" not in fcm and "notification" not in fcm["android"]
    apns = wire(build_request(SILENT, TARGETS[Provider.APNS], NOW))
    assert apns["body"]["aps"] == {"content-available": 1}
    assert (apns["headers"]["apns-push-type"], apns["headers"]["apns-priority"]) == ("background", 5)
    web = wire(build_request(SILENT, TARGETS[Provider.WEBPUSH], NOW))["body"]
    assert "title" not in web and "body" not in web and web["data"]["sync"] == "catalogue"
