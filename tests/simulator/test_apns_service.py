"""The APNs provider API, driven by httpx over HTTP/2 (TLS with the local CA, and h2c prior knowledge)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.domain import Provider
from simulator.inbound import AcceptanceStatus, PushKind
from simulator.profile import SimulatorProfile
from simulator.services import SimulatorServices
from tests.simulator.conftest import RecordingSink

DEVICE = "a" * 64
ALERT = {"aps": {"alert": {"title": "Flash sale", "body": "40% off"}}}


def provider_token(
    profile: SimulatorProfile, *, iat: float | None = None, kid: str | None = None, iss: str | None = None,
    key: bytes | None = None,
) -> str:
    return jwt.encode(
        {"iss": iss or profile.apns_team_id, "iat": int(time.time() if iat is None else iat)},
        key or Path(profile.apns_key_path).read_bytes(), algorithm="ES256",
        headers={"kid": kid or profile.apns_key_id},
    )


def headers_for(profile: SimulatorProfile, **extra: str) -> dict[str, str]:
    return {
        "authorization": f"bearer {provider_token(profile)}", "apns-topic": profile.apns_bundle_id,
        "apns-push-type": "alert", **extra,
    }


@pytest.fixture
def tls_client(profile: SimulatorProfile, runner: asyncio.Runner) -> Iterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=profile.ca_cert_path)
    client = httpx.AsyncClient(http2=True, verify=context, base_url=profile.apns_url)
    yield client
    runner.run(client.aclose())


@pytest.fixture
def h2c_client(profile: SimulatorProfile, runner: asyncio.Runner) -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(http1=False, http2=True, base_url=profile.apns_h2c_url)
    yield client
    runner.run(client.aclose())


def post(
    runner: asyncio.Runner, client: httpx.AsyncClient, headers: dict[str, str], body: Any = ALERT,
    token: str = DEVICE, method: str = "POST", path: str | None = None,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = path or f"/3/device/{token}"
    return runner.run(client.request(method, url, headers=headers, content=content))


def test_alert_over_tls_reaches_the_device_with_every_field(
    runner: asyncio.Runner, tls_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink
) -> None:
    apns_id = str(uuid.uuid4())
    expiration = int(time.time()) + 3600
    payload = {
        "aps": {
            "alert": {"title": "Flash sale", "subtitle": "Today", "body": "40% off"}, "badge": 3,
            "sound": "chime.caf", "category": "SALE", "mutable-content": 1,
        },
        "herald": {"delivery_id": "d-1", "campaign_id": "c-1", "type": "message"},
        "image": "https://img.example/sale.png", "url": "shop://sale",
    }
    response = post(runner, tls_client, headers_for(
        profile, **{"apns-id": apns_id, "apns-collapse-id": "sale-1", "apns-expiration": str(expiration),
                    "apns-priority": "10"},
    ), payload)

    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.headers["apns-id"] == apns_id
    uuid.UUID(response.headers["apns-unique-id"])
    [push] = sink.to(DEVICE)
    assert push.provider is Provider.APNS and push.kind is PushKind.NOTIFICATION
    assert push.message_id == apns_id
    note = push.notification
    assert note is not None
    assert (note.title, note.subtitle, note.body) == ("Flash sale", "Today", "40% off")
    assert (note.badge, note.sound, note.category, note.tray_key) == (3, "chime.caf", "SALE", "sale-1")
    assert (note.image, note.deep_link) == ("https://img.example/sale.png", "shop://sale")
    assert push.data["herald"] == {"delivery_id": "d-1", "campaign_id": "c-1", "type": "message"}
    assert "aps" not in push.data
    assert push.collapse_key == "sale-1"
    assert push.expires_at == datetime.fromtimestamp(expiration, UTC)
    assert push.priority == "high"


def test_composer_style_image_link_and_buttons(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink
) -> None:
    payload = {
        "aps": {"alert": {"title": "T", "body": "B"}, "mutable-content": 1},
        "image_url": "https://img/x.png", "deep_link": "shop://x",
        "buttons": [{"id": "buy", "label": "Buy", "link": "shop://buy"}, {"id": "no", "label": "No", "link": None}],
    }
    assert post(runner, h2c_client, headers_for(profile), payload).status_code == 200
    note = sink.to(DEVICE)[0].notification
    assert note is not None
    assert (note.image, note.deep_link) == ("https://img/x.png", "shop://x")
    assert [(b.id, b.label, b.link) for b in note.buttons] == [("buy", "Buy", "shop://buy"), ("no", "No", None)]


def test_h2c_with_prior_knowledge_works_and_generates_an_apns_id(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink
) -> None:
    response = post(runner, h2c_client, headers_for(profile, **{"apns-expiration": "0"}))
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    generated = response.headers["apns-id"]
    assert str(uuid.UUID(generated)) == generated
    [push] = sink.to(DEVICE)
    assert push.message_id == generated
    assert push.expires_at is None


def test_background_recall_is_a_silent_data_push(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink
) -> None:
    recall = {"aps": {"content-available": 1}, "herald": {"type": "recall", "collapse_ids": ["sale-1"]}}
    headers = headers_for(profile, **{"apns-push-type": "background", "apns-priority": "5"})
    assert post(runner, h2c_client, headers, recall).status_code == 200
    [push] = sink.to(DEVICE)
    assert push.kind is PushKind.DATA and push.notification is None
    assert push.data["herald"]["collapse_ids"] == ["sale-1"]
    assert push.priority == "normal"


def test_many_concurrent_streams_on_one_connection(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    services: SimulatorServices,
) -> None:
    headers = headers_for(profile)

    async def burst() -> list[httpx.Response]:
        return await asyncio.gather(*(
            h2c_client.post(f"/3/device/{i:064x}", headers=headers, content=json.dumps(ALERT).encode())
            for i in range(300)
        ))

    responses = runner.run(burst())
    assert {r.status_code for r in responses} == {200}
    assert len(sink.pushes) == 300
    assert services.apns_connections_opened == 1


def _other_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("no authorization", 403, "MissingProviderToken"),
        ("signed by another key", 403, "InvalidProviderToken"),
        ("unknown key id", 403, "InvalidProviderToken"),
        ("another team", 403, "InvalidProviderToken"),
        ("garbage token", 403, "InvalidProviderToken"),
        ("token older than an hour", 403, "ExpiredProviderToken"),
        ("no topic", 400, "MissingTopic"),
        ("another app's topic", 400, "DeviceTokenNotForTopic"),
        ("voip topic for an alert", 400, "TopicDisallowed"),
        ("unknown push type", 400, "InvalidPushType"),
        ("priority 7", 400, "BadPriority"),
        ("background at priority 10", 400, "BadPriority"),
        ("expiration not a number", 400, "BadExpirationDate"),
        ("collapse id of 65 bytes", 400, "BadCollapseId"),
        ("apns-id not a UUID", 400, "BadMessageId"),
        ("payload of 4097 bytes", 413, "PayloadTooLarge"),
        ("empty payload", 400, "PayloadEmpty"),
        ("payload without aps", 400, "PayloadEmpty"),
        ("payload not JSON", 400, "BadPayload"),
        ("no device token", 400, "MissingDeviceToken"),
        ("wrong path", 404, "BadPath"),
        ("GET", 405, "MethodNotAllowed"),
    ],
)
def test_request_errors_answer_with_apples_reason(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    case: str, status: int, reason: str,
) -> None:
    headers = headers_for(profile)
    body: Any = ALERT
    kwargs: dict[str, Any] = {}
    if case == "no authorization":
        del headers["authorization"]
    elif case == "signed by another key":
        headers["authorization"] = f"bearer {provider_token(profile, key=_other_key())}"
    elif case == "unknown key id":
        headers["authorization"] = f"bearer {provider_token(profile, kid='ZZZZZZZZZZ')}"
    elif case == "another team":
        headers["authorization"] = f"bearer {provider_token(profile, iss='ZZZZZZZZZZ')}"
    elif case == "garbage token":
        headers["authorization"] = "bearer not.a.jwt"
    elif case == "token older than an hour":
        headers["authorization"] = f"bearer {provider_token(profile, iat=time.time() - 2 * 3600)}"
    elif case == "no topic":
        del headers["apns-topic"]
    elif case == "another app's topic":
        headers["apns-topic"] = "com.example.other"
    elif case == "voip topic for an alert":
        headers["apns-topic"] = profile.apns_bundle_id + ".voip"
    elif case == "unknown push type":
        headers["apns-push-type"] = "shout"
    elif case == "priority 7":
        headers["apns-priority"] = "7"
    elif case == "background at priority 10":
        headers.update({"apns-push-type": "background", "apns-priority": "10"})
        body = {"aps": {"content-available": 1}}
    elif case == "expiration not a number":
        headers["apns-expiration"] = "tomorrow"
    elif case == "collapse id of 65 bytes":
        headers["apns-collapse-id"] = "c" * 65
    elif case == "apns-id not a UUID":
        headers["apns-id"] = "not-a-uuid"
    elif case == "payload of 4097 bytes":
        body = {"aps": {"alert": "x"}, "pad": ""}
        body["pad"] = "p" * (4097 - len(json.dumps(body)))
        assert len(json.dumps(body)) == 4097
    elif case == "empty payload":
        body = b""
    elif case == "payload without aps":
        body = {"herald": {}}
    elif case == "payload not JSON":
        body = b"{not json"
    elif case == "no device token":
        kwargs["token"] = ""
    elif case == "wrong path":
        kwargs["path"] = "/4/device/x"
    elif case == "GET":
        kwargs["method"] = "GET"

    response = post(runner, h2c_client, headers, body, **kwargs)

    assert response.status_code == status
    assert response.json() == {"reason": reason}
    uuid.UUID(response.headers["apns-id"])
    assert sink.pushes == []


@pytest.mark.parametrize(
    ("status", "answer", "reason"),
    [
        (AcceptanceStatus.UNKNOWN_TOKEN, 400, "BadDeviceToken"),
        (AcceptanceStatus.DEVICE_RATE_LIMITED, 429, "TooManyRequests"),
    ],
)
def test_fleet_verdicts_map_to_apns_reasons(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    status: AcceptanceStatus, answer: int, reason: str,
) -> None:
    sink.statuses[DEVICE] = status
    response = post(runner, h2c_client, headers_for(profile))
    assert (response.status_code, response.json()) == (answer, {"reason": reason})


def test_uninstalled_app_answers_410_with_the_unregistration_time(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink
) -> None:
    gone = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    sink.statuses[DEVICE] = AcceptanceStatus.UNREGISTERED
    sink.unregistered_at[DEVICE] = gone
    response = post(runner, h2c_client, headers_for(profile))
    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": int(gone.timestamp() * 1000)}


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ({"rate_429": 1.0, "retry_after_s": 7}, 429, "TooManyRequests"),
        ({"rate_500": 1.0}, 500, "InternalServerError"),
        ({"rate_503": 1.0}, 503, "ServiceUnavailable"),
        ({"rate_auth_error": 1.0}, 403, "InvalidProviderToken"),
    ],
)
def test_injected_faults(
    runner: asyncio.Runner, tls_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    services: SimulatorServices, fault: dict[str, Any], status: int, reason: str,
) -> None:
    services.faults["apns"].update(**fault)
    response = post(runner, tls_client, headers_for(profile))
    assert (response.status_code, response.json()) == (status, {"reason": reason})
    if status == 429:
        assert response.headers["retry-after"] == "7"
    assert sink.pushes == []
    services.faults["apns"].clear()
    assert post(runner, tls_client, headers_for(profile)).status_code == 200


def test_forced_token_expiry_then_a_fresh_token_works(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, services: SimulatorServices
) -> None:
    headers = headers_for(profile)
    assert post(runner, h2c_client, headers).status_code == 200
    services.faults["apns"].expire_tokens()
    expired = post(runner, h2c_client, headers)
    assert (expired.status_code, expired.json()) == (403, {"reason": "ExpiredProviderToken"})
    headers["authorization"] = f"bearer {provider_token(profile, iat=time.time() + 1)}"
    assert post(runner, h2c_client, headers).status_code == 200


def test_connection_reset_after_the_body_was_read(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    services: SimulatorServices,
) -> None:
    services.faults["apns"].update(reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        post(runner, h2c_client, headers_for(profile))
    assert sink.pushes == []
    services.faults["apns"].clear()
    assert post(runner, h2c_client, headers_for(profile)).status_code == 200


def test_goaway_after_n_streams_moves_the_client_to_a_new_connection(
    runner: asyncio.Runner, tls_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    services: SimulatorServices,
) -> None:
    services.faults["apns"].update(goaway_after_streams=3)
    statuses = [post(runner, tls_client, headers_for(profile)).status_code for _ in range(7)]
    assert statuses == [200] * 7
    assert len(sink.pushes) == 7
    assert services.apns_connections_opened == 3


def test_added_latency_still_answers(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    services: SimulatorServices,
) -> None:
    services.faults["apns"].update(latency={"kind": "uniform", "low": 0.001, "high": 0.02})

    async def burst() -> list[httpx.Response]:
        return await asyncio.gather(*(
            h2c_client.post(f"/3/device/{i:064x}", headers=headers_for(profile), content=json.dumps(ALERT).encode())
            for i in range(20)
        ))

    assert {r.status_code for r in runner.run(burst())} == {200}
    assert len(sink.pushes) == 20


def test_stop_sends_goaway_and_the_client_reconnects_to_nothing(
    runner: asyncio.Runner, h2c_client: httpx.AsyncClient, profile: SimulatorProfile,
    services: SimulatorServices, running: Any,
) -> None:
    assert post(runner, h2c_client, headers_for(profile)).status_code == 200
    asyncio.run_coroutine_threadsafe(services.stop(), running.loop).result(10)
    with pytest.raises(httpx.TransportError):
        post(runner, h2c_client, headers_for(profile))


def test_goaway_under_concurrent_streams_delivers_exactly_what_was_answered(
    runner: asyncio.Runner, tls_client: httpx.AsyncClient, profile: SimulatorProfile, sink: RecordingSink,
    services: SimulatorServices,
) -> None:
    """Streams the server took are answered; streams past the GOAWAY never reach a device.

    httpx cannot retry streams it was opening when the GOAWAY arrived (it raises RemoteProtocolError), so a
    sender must treat those as not sent; the simulator must never deliver one of them.
    """
    services.faults["apns"].update(goaway_after_streams=40)
    headers = headers_for(profile)

    async def burst() -> list[httpx.Response | BaseException]:
        return await asyncio.gather(
            *(
                tls_client.post(f"/3/device/{i:064x}", headers=headers, content=json.dumps(ALERT).encode())
                for i in range(150)
            ),
            return_exceptions=True,
        )

    outcomes = runner.run(burst())
    answered = [o for o in outcomes if isinstance(o, httpx.Response)]
    failed = [o for o in outcomes if not isinstance(o, httpx.Response)]
    assert all(isinstance(f, httpx.TransportError) for f in failed)
    assert {r.status_code for r in answered} == {200}
    assert len(answered) >= 40
    delivered = {p.token for p in sink.pushes}
    assert len(sink.pushes) == len(answered) == len(delivered)
    assert post(runner, tls_client, headers).status_code == 200
