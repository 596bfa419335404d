"""FCM HTTP v1 and the OAuth token endpoint, driven by firebase-admin and google-auth, unmodified.

firebase-admin reaches the simulator through the profile's service-account JSON (whose ``token_uri`` is the
simulator's ``/token``) and its private URL override; ``test_firebase_private_url_attributes_exist`` fails
when a firebase-admin upgrade moves them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import firebase_admin
import google.auth.exceptions
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import credentials, exceptions, messaging
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from core.domain import Provider
from core.domain.push_contract import FCM_DELIVERY_ID, FCM_TYPE
from simulator.inbound import AcceptanceStatus, PushKind
from simulator.profile import SimulatorProfile
from simulator.services import SimulatorServices
from tests.simulator.conftest import RecordingSink

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class FirebaseHarness:
    """One firebase-admin App pointed at the simulator, with its async client on the test's loop."""

    def __init__(self, profile: SimulatorProfile, runner: asyncio.Runner, project_id: str | None = None) -> None:
        self.runner = runner
        self.app = firebase_admin.initialize_app(
            credentials.Certificate(profile.service_account_path),
            {"projectId": project_id or profile.project_id},
            name=f"test-{secrets.token_hex(4)}",
        )
        self.service = messaging._get_messaging_service(self.app)
        self.service._fcm_url = profile.fcm_send_url.format(project_id or profile.project_id)

    def send(self, *messages: messaging.Message, dry_run: bool = False) -> messaging.BatchResponse:
        return self.runner.run(messaging.send_each_async(list(messages), dry_run=dry_run, app=self.app))

    def send_one(self, message: messaging.Message) -> str:
        response = self.send(message).responses[0]
        if response.exception is not None:
            raise response.exception
        assert response.message_id is not None
        return response.message_id

    def close(self) -> None:
        self.runner.run(self.service._async_client.aclose())
        firebase_admin.delete_app(self.app)


@pytest.fixture
def fcm(profile: SimulatorProfile, runner: asyncio.Runner) -> Iterator[FirebaseHarness]:
    harness = FirebaseHarness(profile, runner)
    yield harness
    harness.close()


def rich_message(fid: str) -> messaging.Message:
    return messaging.Message(
        fid=fid,
        data={FCM_DELIVERY_ID: "d-1", FCM_TYPE: "message"},
        notification=messaging.Notification(title="Generic", body="Generic body", image="https://img/top.png"),
        android=messaging.AndroidConfig(
            collapse_key="sale",
            priority="high",
            ttl=timedelta(hours=2),
            notification=messaging.AndroidNotification(
                title="Flash sale", body="40% off", image="https://img/sale.png", tag="sale-1",
                click_action="shop://sale", channel_id="promos", sound="chime", notification_count=2,
                icon="ic_sale",
            ),
        ),
    )


def test_firebase_admin_sends_a_rich_notification(
    fcm: FirebaseHarness, profile: SimulatorProfile, sink: RecordingSink
) -> None:
    before = datetime.now(UTC)
    name = fcm.send_one(rich_message("device-1"))

    [push] = sink.to("device-1")
    assert name == f"projects/{profile.project_id}/messages/{push.message_id}"
    assert push.provider is Provider.FCM and push.kind is PushKind.NOTIFICATION
    note = push.notification
    assert note is not None
    assert (note.title, note.body, note.image) == ("Flash sale", "40% off", "https://img/sale.png")
    assert (note.tray_key, note.deep_link, note.channel, note.sound) == ("sale-1", "shop://sale", "promos", "chime")
    assert (note.badge, note.icon) == (2, "ic_sale")
    assert push.data == {FCM_DELIVERY_ID: "d-1", FCM_TYPE: "message"}
    assert push.collapse_key == "sale"
    assert push.priority == "high"
    assert push.expires_at is not None and push.expires_at - push.received_at == timedelta(hours=2)
    assert push.received_at >= before - timedelta(seconds=1)


def test_data_only_message_and_ttl_zero(fcm: FirebaseHarness, sink: RecordingSink) -> None:
    fcm.send_one(messaging.Message(
        fid="device-2", data={FCM_TYPE: "recall", "herald_recall_tags": "sale-1"},
        android=messaging.AndroidConfig(ttl=0),
    ))
    [push] = sink.to("device-2")
    assert push.kind is PushKind.DATA and push.notification is None
    assert push.data["herald_recall_tags"] == "sale-1"
    assert push.expires_at is None


def test_deprecated_token_field_is_accepted(fcm: FirebaseHarness, sink: RecordingSink) -> None:
    with pytest.warns(DeprecationWarning, match="token is deprecated"):
        message = messaging.Message(token="legacy-token", notification=messaging.Notification(title="Hi"))
    fcm.send_one(message)
    assert [p.notification.title for p in sink.to("legacy-token") if p.notification] == ["Hi"]


def test_batch_of_many_messages_on_one_loop(fcm: FirebaseHarness, sink: RecordingSink) -> None:
    messages = [messaging.Message(fid=f"dev-{i}", data={"n": str(i)}) for i in range(120)]
    first = fcm.send(*messages[:60])
    second = fcm.send(*messages[60:])
    assert first.success_count + second.success_count == 120
    assert sorted(int(p.data["n"]) for p in sink.pushes) == list(range(120))


def test_validate_only_checks_without_delivering(fcm: FirebaseHarness, sink: RecordingSink) -> None:
    response = fcm.send(rich_message("device-3"), dry_run=True).responses[0]
    assert response.success and response.message_id is not None
    assert response.message_id.endswith("/messages/fake_message_id")
    assert sink.pushes == []


def test_sync_send_through_the_class_url_override(
    profile: SimulatorProfile, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", profile.fcm_send_url)
    app = firebase_admin.initialize_app(
        credentials.Certificate(profile.service_account_path), {"projectId": profile.project_id},
        name=f"sync-{secrets.token_hex(4)}",
    )
    try:
        messaging.send(messaging.Message(fid="sync-device", notification=messaging.Notification(title="Sync")), app=app)
    finally:
        asyncio.run(messaging._get_messaging_service(app)._async_client.aclose())
        firebase_admin.delete_app(app)
    assert [p.token for p in sink.pushes] == ["sync-device"]


def test_firebase_private_url_attributes_exist(profile: SimulatorProfile) -> None:
    assert "{0}" in messaging._MessagingService.FCM_URL
    app = firebase_admin.initialize_app(
        credentials.Certificate(profile.service_account_path), {"projectId": profile.project_id},
        name=f"attrs-{secrets.token_hex(4)}",
    )
    try:
        service = messaging._get_messaging_service(app)
        assert service._fcm_url == messaging._MessagingService.FCM_URL.format(profile.project_id)
        assert hasattr(service, "_async_client")
    finally:
        asyncio.run(service._async_client.aclose())
        firebase_admin.delete_app(app)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (AcceptanceStatus.UNREGISTERED, messaging.UnregisteredError),
        (AcceptanceStatus.UNKNOWN_TOKEN, exceptions.InvalidArgumentError),
        (AcceptanceStatus.DEVICE_RATE_LIMITED, messaging.QuotaExceededError),
    ],
)
def test_fleet_verdicts_raise_the_sdk_exceptions(
    fcm: FirebaseHarness, sink: RecordingSink, status: AcceptanceStatus, error: type[Exception]
) -> None:
    sink.statuses["dead"] = status
    with pytest.raises(error):
        fcm.send_one(messaging.Message(fid="dead", notification=messaging.Notification(title="x")))


def test_quota_exceeded_carries_retry_after(fcm: FirebaseHarness, services: SimulatorServices) -> None:
    services.faults["fcm"].update(rate_429=1.0, retry_after_s=9)
    with pytest.raises(messaging.QuotaExceededError) as caught:
        fcm.send_one(messaging.Message(fid="d", data={"a": "b"}))
    assert caught.value.http_response is not None
    assert caught.value.http_response.headers["retry-after"] == "9"


def test_oversized_payload_is_an_invalid_argument(fcm: FirebaseHarness, sink: RecordingSink) -> None:
    with pytest.raises(exceptions.InvalidArgumentError, match="too big"):
        fcm.send_one(messaging.Message(fid="d", data={"blob": "x" * 4100}))
    assert sink.pushes == []


def test_ttl_over_28_days_is_an_invalid_argument(fcm: FirebaseHarness) -> None:
    with pytest.raises(exceptions.InvalidArgumentError, match="ttl"):
        fcm.send_one(messaging.Message(fid="d", android=messaging.AndroidConfig(ttl=timedelta(days=29)), data={}))


def test_another_project_is_a_sender_id_mismatch(profile: SimulatorProfile, runner: asyncio.Runner) -> None:
    harness = FirebaseHarness(profile, runner, project_id="someone-elses-project")
    try:
        with pytest.raises(messaging.SenderIdMismatchError):
            harness.send_one(messaging.Message(fid="d", data={"a": "b"}))
    finally:
        harness.close()


def test_third_party_auth_error(fcm: FirebaseHarness, services: SimulatorServices) -> None:
    services.faults["fcm"].update(rate_auth_error=1.0)
    with pytest.raises(messaging.ThirdPartyAuthError):
        fcm.send_one(messaging.Message(fid="d", data={"a": "b"}))


def test_server_errors_after_the_sdk_retries(
    fcm: FirebaseHarness, services: SimulatorServices, sink: RecordingSink
) -> None:
    services.faults["fcm"].update(rate_500=0.5, rate_503=0.5)
    result = fcm.send(*(messaging.Message(fid=f"d{i}", data={"a": "b"}) for i in range(16)))
    kinds = {type(r.exception) for r in result.responses}
    assert kinds == {exceptions.InternalError, exceptions.UnavailableError}
    assert services.faults["fcm"].counts()["internal"] + services.faults["fcm"].counts()["unavailable"] == 16 * 5
    assert sink.pushes == []


def test_connection_reset_surfaces_as_a_transport_failure(
    fcm: FirebaseHarness, services: SimulatorServices, sink: RecordingSink
) -> None:
    services.faults["fcm"].update(reset_rate=1.0)
    with pytest.raises(exceptions.FirebaseError):
        fcm.send_one(messaging.Message(fid="d", data={"a": "b"}))
    assert sink.pushes == []


def test_expired_access_tokens_are_refreshed_by_the_sdk(
    fcm: FirebaseHarness, services: SimulatorServices, sink: RecordingSink
) -> None:
    fcm.send_one(messaging.Message(fid="d", data={"n": "1"}))
    services.faults["oauth"].expire_tokens()
    fcm.send_one(messaging.Message(fid="d", data={"n": "2"}))
    assert [p.data["n"] for p in sink.to("d")] == ["1", "2"]


def _access_token(profile: SimulatorProfile) -> str:
    creds = service_account.Credentials.from_service_account_file(profile.service_account_path, scopes=[SCOPE])
    creds.refresh(Request())
    assert isinstance(creds.token, str)
    return creds.token


def _raw_send(profile: SimulatorProfile, body: Any, authorization: str | None) -> httpx.Response:
    headers = {"authorization": authorization} if authorization else {}
    url = profile.fcm_send_url.format(profile.project_id)
    return httpx.post(url, headers=headers, content=json.dumps(body).encode())


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token-we-issued"])
def test_missing_or_unknown_bearer_token_is_unauthenticated(
    profile: SimulatorProfile, authorization: str | None
) -> None:
    response = _raw_send(profile, {"message": {"token": "d", "data": {}}}, authorization)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_google_auth_token_grant_and_wire_errors(profile: SimulatorProfile) -> None:
    token = _access_token(profile)
    non_string = _raw_send(profile, {"message": {"token": "d", "data": {"n": 1}}}, f"Bearer {token}")
    assert non_string.status_code == 400
    error = non_string.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"} in (
        error["details"]
    )
    reserved = _raw_send(profile, {"message": {"token": "d", "data": {"google.x": "1"}}}, f"Bearer {token}")
    assert reserved.status_code == 400
    two_targets = _raw_send(profile, {"message": {"token": "d", "fid": "e"}}, f"Bearer {token}")
    assert two_targets.status_code == 400


def test_grant_signed_with_another_key_is_refused(profile: SimulatorProfile, tmp_path: Path) -> None:
    info = json.loads(Path(profile.service_account_path).read_text())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        creds.refresh(Request())
