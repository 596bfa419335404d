"""The Web Push service, driven by pywebpush (``webpush()`` and ``webpush_async()``) and py-vapid, unmodified."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import httpx
import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid, Vapid01
from pywebpush import WebPusher, WebPushException, webpush, webpush_async

from core.domain import Provider
from simulator.credentials import b64url
from simulator.inbound import AcceptanceStatus, PushKind
from simulator.profile import SimulatorProfile
from simulator.services import SimulatorServices
from tests.simulator.conftest import RecordingSink, Subscription, subscribe

CLAIMS = {"sub": "mailto:ops@herald.test"}
RICH = {
    "title": "Flash sale", "body": "40% off", "icon": "/icon.png", "image": "/sale.png", "tag": "sale-1",
    "actions": [{"action": "shop", "title": "Shop now", "url": "/shop"}, {"action": "later", "title": "Later"}],
    "data": {"url": "/sale"}, "herald": {"delivery_id": "d-1", "campaign_id": "c-1", "type": "message"},
}


def send(profile: SimulatorProfile, sub: Subscription, payload: Any = RICH, **kwargs: Any) -> requests.Response:
    options: dict[str, Any] = {
        "vapid_private_key": profile.vapid_private_key_path, "vapid_claims": dict(CLAIMS), "ttl": 120,
    }
    options.update(kwargs)
    data = payload if isinstance(payload, str) else json.dumps(payload)
    try:
        response = webpush(sub.info, data, **options)
    except WebPushException as exc:
        assert exc.response is not None
        return exc.response
    assert isinstance(response, requests.Response)
    return response


def test_webpush_delivers_a_decrypted_rendered_notification(
    profile: SimulatorProfile, sink: RecordingSink
) -> None:
    sub = subscribe(sink, profile)
    response = send(profile, sub, headers={"Topic": "sale", "Urgency": "high"})

    assert response.status_code == 201
    [push] = sink.to(sub.id)
    assert response.headers["location"] == f"{profile.webpush_base_url}/message/{push.message_id}"
    assert push.provider is Provider.WEBPUSH and push.kind is PushKind.NOTIFICATION
    note = push.notification
    assert note is not None
    assert (note.title, note.body, note.icon, note.image) == ("Flash sale", "40% off", "/icon.png", "/sale.png")
    assert (note.tray_key, note.deep_link) == ("sale-1", "/sale")
    assert [(b.id, b.label, b.link) for b in note.buttons] == [("shop", "Shop now", "/shop"), ("later", "Later", None)]
    assert push.data["herald"]["delivery_id"] == "d-1" and push.data["url"] == "/sale"
    assert push.collapse_key == "sale" and push.priority == "high"
    assert push.expires_at is not None and (push.expires_at - push.received_at).total_seconds() == 120
    assert push.size == len(json.dumps(RICH))


def test_webpush_async_on_one_shared_session(
    profile: SimulatorProfile, sink: RecordingSink, runner: asyncio.Runner
) -> None:
    subs = [subscribe(sink, profile) for _ in range(5)]
    vapid = Vapid.from_file(profile.vapid_private_key_path)

    async def burst() -> list[int]:
        async with aiohttp.ClientSession() as session:
            responses = await asyncio.gather(*(
                webpush_async(
                    subs[i % 5].info, json.dumps({"title": f"n{i}", "body": "b"}), vapid_private_key=vapid,
                    vapid_claims=dict(CLAIMS), ttl=60, aiohttp_session=session,
                )
                for i in range(40)
            ))
        return [getattr(r, "status", 0) for r in responses]

    assert runner.run(burst()) == [201] * 40
    titles = sorted(p.notification.title for p in sink.pushes if p.notification)
    assert titles == sorted(f"n{i}" for i in range(40))


def test_composer_style_button_links_and_badge(profile: SimulatorProfile, sink: RecordingSink) -> None:
    sub = subscribe(sink, profile)
    document = {"title": "T", "body": "B", "badge": 4, "actions": [{"action": "buy", "title": "Buy"}],
                "data": {"url": "/x", "links": {"buy": "/buy"}}}
    assert send(profile, sub, document).status_code == 201
    note = sink.to(sub.id)[0].notification
    assert note is not None
    assert [(b.id, b.link) for b in note.buttons] == [("buy", "/buy")] and note.badge == 4


def test_recall_and_no_ui_messages_are_data_pushes(profile: SimulatorProfile, sink: RecordingSink) -> None:
    sub = subscribe(sink, profile)
    recall = {"herald": {"type": "recall", "tags": ["sale-1"], "delivery_ids": ["d-1"]}}
    assert send(profile, sub, recall, ttl=0).status_code == 201
    assert send(profile, sub, {"data": {"sync": "1"}}).status_code == 201
    first, second = sink.to(sub.id)
    assert first.kind is PushKind.DATA and first.data["herald"]["tags"] == ["sale-1"] and first.expires_at is None
    assert second.kind is PushKind.DATA and second.data == {"sync": "1"}


def test_legacy_webpush_authorization_with_crypto_key(profile: SimulatorProfile, sink: RecordingSink) -> None:
    sub = subscribe(sink, profile)
    legacy = Vapid01.from_file(profile.vapid_private_key_path)
    assert send(profile, sub, vapid_private_key=legacy).status_code == 201
    assert len(sink.to(sub.id)) == 1


def _raw(
    profile: SimulatorProfile, sub: Subscription, *, drop: tuple[str, ...] = (),
    claims: dict[str, Any] | None = None, strict_sub: bool = True, **headers: str,
) -> httpx.Response:
    """A request built with pywebpush's and py-vapid's own encoder and signer, then altered on purpose."""
    encoded = WebPusher(sub.info).encode(json.dumps(RICH).encode(), "aes128gcm")
    vapid = Vapid.from_file(profile.vapid_private_key_path)
    vapid.conf["no-strict"] = not strict_sub
    all_claims = {"aud": profile.webpush_base_url, "exp": int(time.time()) + 3600, **CLAIMS, **(claims or {})}
    request_headers = {"content-encoding": "aes128gcm", "ttl": "60", **vapid.sign(all_claims), **headers}
    for name in drop:
        request_headers = {k: v for k, v in request_headers.items() if k.lower() != name}
    return httpx.post(str(sub.info["endpoint"]), headers=request_headers, content=encoded["body"])


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unknown subscription", 404, "Subscription not found"),
        ("no VAPID", 401, "missing VAPID"),
        ("aud is another origin", 401, "aud is not"),
        ("exp more than 24 h ahead", 401, "exp is in the past or more than 24 hours ahead"),
        ("exp in the past", 401, "exp is in the past or more than 24 hours ahead"),
        ("sub not mailto or https", 401, "sub must be"),
        ("signature by another key", 401, "signature does not verify"),
        ("subscription bound to another key", 403, "applicationServerKey"),
        ("no TTL", 400, "TTL"),
        ("legacy aesgcm encoding", 400, "aes128gcm"),
        ("topic too long", 400, "Topic"),
        ("bad urgency", 400, "Urgency"),
        ("encrypted for other keys", 400, "decrypt"),
        ("body over 4096 bytes", 413, "4096"),
    ],
)
def test_request_errors(
    profile: SimulatorProfile, sink: RecordingSink, case: str, status: int, message: str
) -> None:
    sub = subscribe(sink, profile)
    if case == "unknown subscription":
        del sink.subscriptions[sub.id]
        response: Any = send(profile, sub)
    elif case == "no VAPID":
        response = send(profile, sub, vapid_claims=None)
    elif case == "aud is another origin":
        response = send(profile, sub, vapid_claims={**CLAIMS, "aud": "https://push.example.net"})
    elif case == "exp more than 24 h ahead":
        response = send(profile, sub, vapid_claims={**CLAIMS, "exp": int(time.time()) + 25 * 3600})
    elif case == "exp in the past":
        response = _raw(profile, sub, claims={"exp": int(time.time()) - 10})
    elif case == "sub not mailto or https":
        response = _raw(profile, sub, claims={"sub": "ops@herald.test"}, strict_sub=False)
    elif case == "signature by another key":
        other = Vapid()
        other.generate_keys()
        signed = other.sign({"aud": profile.webpush_base_url, "exp": int(time.time()) + 600, **CLAIMS})
        token = signed["Authorization"].split("t=")[1].split(",")[0]
        response = _raw(profile, sub, authorization=f"vapid t={token},k={profile.vapid_public_key}")
    elif case == "subscription bound to another key":
        other = Vapid()
        other.generate_keys()
        raw_key = other.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        sub = subscribe(sink, profile, server_key=b64url(raw_key))
        response = send(profile, sub)
    elif case == "no TTL":
        response = _raw(profile, sub, drop=("ttl",))
    elif case == "legacy aesgcm encoding":
        response = send(profile, sub, content_encoding="aesgcm")
    elif case == "topic too long":
        response = send(profile, sub, headers={"Topic": "t" * 33})
    elif case == "bad urgency":
        response = send(profile, sub, headers={"Urgency": "urgent"})
    elif case == "encrypted for other keys":
        stranger = subscribe(RecordingSink(), profile)
        response = send(profile, Subscription(sub.id, {**stranger.info, "endpoint": sub.info["endpoint"]}))
    elif case == "body over 4096 bytes":
        response = send(profile, sub, "x" * 4000)

    assert response.status_code == status
    assert message in response.json()["message"]
    assert sink.pushes == []


@pytest.mark.parametrize(
    ("verdict", "status"),
    [(AcceptanceStatus.UNREGISTERED, 410), (AcceptanceStatus.DEVICE_RATE_LIMITED, 429),
     (AcceptanceStatus.UNKNOWN_TOKEN, 404)],
)
def test_fleet_verdicts(profile: SimulatorProfile, sink: RecordingSink, verdict: AcceptanceStatus, status: int) -> None:
    sub = subscribe(sink, profile)
    sink.statuses[sub.id] = verdict
    response = send(profile, sub)
    assert response.status_code == status
    if status == 429:
        assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize(
    ("fault", "status"),
    [({"rate_429": 1.0, "retry_after_s": 4}, 429), ({"rate_500": 1.0}, 500), ({"rate_503": 1.0}, 503),
     ({"rate_auth_error": 1.0}, 403)],
)
def test_injected_faults(
    profile: SimulatorProfile, sink: RecordingSink, services: SimulatorServices, fault: dict[str, Any], status: int
) -> None:
    sub = subscribe(sink, profile)
    services.faults["webpush"].update(**fault)
    response = send(profile, sub)
    assert response.status_code == status
    if status == 429:
        assert response.headers["retry-after"] == "4"
    assert sink.pushes == []


def test_connection_reset_after_the_body_was_read(
    profile: SimulatorProfile, sink: RecordingSink, services: SimulatorServices
) -> None:
    sub = subscribe(sink, profile)
    services.faults["webpush"].update(reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        send(profile, sub)
    services.faults["webpush"].clear()
    assert send(profile, sub).status_code == 201
    assert len(sink.to(sub.id)) == 1
