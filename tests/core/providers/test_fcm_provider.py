"""FcmProvider (firebase-admin's async path) against the simulator's FCM HTTP v1 and OAuth: delivery and errors."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from firebase_admin import messaging

from core.composer.content import Button, PushContent
from core.domain import Provider
from core.errors import AuthFailed, PayloadRejected, Throttled, TokenInvalid, Transient
from core.providers.base import FcmRequest, SendResult
from core.providers.factory import ProviderSettings
from core.providers.fcm import FcmProvider
from core.providers.fcm_messages import to_message
from core.providers.settings import FcmSettings
from simulator.fleet import Fleet
from simulator.services import SimulatorServices
from tests.core.providers.conftest import Devices, displayed, request_for


@pytest.fixture
def fcm_settings(settings: ProviderSettings) -> FcmSettings:
    assert settings.fcm is not None
    return settings.fcm


@pytest_asyncio.fixture
async def fcm(fcm_settings: FcmSettings) -> AsyncIterator[FcmProvider]:
    provider = FcmProvider(fcm_settings)
    yield provider
    await provider.aclose()


def _request(devices: Devices, **changes: object) -> FcmRequest:
    request = request_for(devices.take(Provider.FCM))
    assert isinstance(request, FcmRequest)
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


def test_composer_message_maps_onto_the_sdk_classes_without_loss() -> None:
    from core.composer.payloads import Target, build_request
    from core.domain import Platform

    content = PushContent(title="Flash sale", body="40% off", image="https://img/s.png", icon="ic_sale",
                          sound="chime", badge=3, channel="promos", deep_link="shop://sale",
                          buttons=(Button("b1", "Shop", "shop://go"),), ttl_seconds=7200, replace_key="sale")
    request = build_request(content, Target(5, 9, Platform.ANDROID, Provider.FCM, "tok"), 0)
    assert isinstance(request, FcmRequest)
    encoded = messaging._MessagingService.encode_message(to_message(request.token, request.message))
    assert encoded == {**request.message, "fid": "tok"}


@pytest.mark.asyncio
async def test_notification_is_displayed_on_the_device(fcm: FcmProvider, devices: Devices, fleet: Fleet,
                                                       fcm_settings: FcmSettings) -> None:
    device = devices.take(Provider.FCM)
    request = request_for(device)
    [outcome] = await fcm.send_batch([request])
    assert isinstance(outcome, SendResult) and outcome.sdk_retries == 0
    assert outcome.message_id is not None
    assert outcome.message_id.startswith(f"projects/{fcm_settings.project_id}/messages/")
    assert displayed(fleet, device, request.delivery_id)
    [entry] = [e for e in device.tray or [] if e.delivery_id == request.delivery_id] or [None]
    if entry is not None:  # the simulated user may already have reacted
        assert (entry.notification.title, entry.notification.body) == ("Flash sale", "40% off today")


@pytest.mark.asyncio
async def test_more_than_500_are_split_into_sdk_calls(fcm: FcmProvider, devices: Devices) -> None:
    targets = [devices.take(Provider.FCM) for _ in range(130)]
    requests = [request_for(d) for d in targets for _ in range(4)]
    outcomes = await fcm.send_batch(requests)
    assert len(outcomes) == 520
    assert all(isinstance(o, SendResult) for o in outcomes)


@pytest.mark.asyncio
async def test_uninstalled_app_is_unregistered(fcm: FcmProvider, devices: Devices, fleet: Fleet) -> None:
    device = devices.take(Provider.FCM)
    fleet.uninstall(device.id)
    outcome = await fcm.send(request_for(device))  # type: ignore[arg-type]
    assert isinstance(outcome, TokenInvalid)
    assert (outcome.code, outcome.status) == ("UNREGISTERED", 404)


@pytest.mark.asyncio
async def test_unknown_registration_token_is_token_invalid(fcm: FcmProvider, devices: Devices) -> None:
    [outcome] = await fcm.send_batch([_request(devices, token="never-issued:APA91b" + "x" * 40)])
    assert isinstance(outcome, TokenInvalid)
    assert (outcome.code, outcome.status) == ("INVALID_REGISTRATION", 400)


@pytest.mark.asyncio
async def test_oversized_payload_is_payload_rejected(fcm: FcmProvider, devices: Devices) -> None:
    [outcome] = await fcm.send_batch([_request(devices, message={"data": {"blob": "x" * 4100}})])
    assert isinstance(outcome, PayloadRejected)
    assert (outcome.code, outcome.status) == ("INVALID_ARGUMENT", 400)


@pytest.mark.asyncio
async def test_a_malformed_message_is_rejected_without_sinking_the_batch(fcm: FcmProvider, devices: Devices) -> None:
    good = _request(devices)
    bad = _request(devices, message={"android": {"ttl": "soon"}})
    outcomes = await fcm.send_batch([bad, good])
    assert isinstance(outcomes[0], PayloadRejected) and isinstance(outcomes[1], SendResult)


@pytest.mark.asyncio
async def test_another_project_is_sender_id_mismatch(fcm_settings: FcmSettings, devices: Devices) -> None:
    provider = FcmProvider(dataclasses.replace(fcm_settings, project_id="someone-elses-project"))
    try:
        [outcome] = await provider.send_batch([_request(devices)])
        check = await provider.check_connection()
    finally:
        await provider.aclose()
    assert isinstance(outcome, AuthFailed)
    assert (outcome.code, outcome.status) == ("SENDER_ID_MISMATCH", 403)
    assert not check.ok and check.facts["field"] == "project_id"


@pytest.mark.asyncio
async def test_third_party_auth_error_is_auth_failed(
    fcm: FcmProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["fcm"].update(rate_auth_error=1.0)
    [outcome] = await fcm.send_batch([_request(devices)])
    assert isinstance(outcome, AuthFailed)
    assert (outcome.code, outcome.status) == ("THIRD_PARTY_AUTH_ERROR", 401)


@pytest.mark.asyncio
async def test_quota_exceeded_is_throttled_with_retry_after(
    fcm: FcmProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["fcm"].update(rate_429=1.0, retry_after_s=9)
    [outcome] = await fcm.send_batch([_request(devices)])
    assert isinstance(outcome, Throttled)
    assert (outcome.code, outcome.status, outcome.retry_after) == ("QUOTA_EXCEEDED", 429, 9.0)


@pytest.mark.asyncio
async def test_500_and_503_are_transient_after_the_sdks_own_retries(
    fcm: FcmProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["fcm"].update(rate_500=0.5, rate_503=0.5)
    outcomes = await fcm.send_batch([_request(devices) for _ in range(8)])
    assert {o.status for o in outcomes if isinstance(o, Transient)} == {500, 503}
    for outcome in outcomes:
        assert isinstance(outcome, Transient) and not outcome.ambiguous
        assert outcome.sdk_retries == 4  # type: ignore[attr-defined]
    assert fcm.counts_sdk_retries


@pytest.mark.asyncio
async def test_reset_after_the_request_was_read_is_ambiguous(
    fcm: FcmProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["fcm"].update(reset_rate=1.0)
    [outcome] = await fcm.send_batch([_request(devices)])
    assert isinstance(outcome, Transient)
    assert outcome.ambiguous and outcome.status is None


@pytest.mark.asyncio
async def test_expired_access_token_is_refreshed_by_the_sdk(
    fcm: FcmProvider, devices: Devices, fleet: Fleet, services: SimulatorServices
) -> None:
    assert isinstance((await fcm.send_batch([_request(devices)]))[0], SendResult)
    services.faults["oauth"].expire_tokens()
    device = devices.take(Provider.FCM)
    request = request_for(device)
    [outcome] = await fcm.send_batch([request])
    assert isinstance(outcome, SendResult)
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_check_connection_is_a_validate_only_send(fcm: FcmProvider, fleet: Fleet) -> None:
    before = sum(1 for e in fleet.events(limit=100_000) if e.name == "delivered")
    check = await fcm.check_connection()
    assert check.ok and check.provider is Provider.FCM
    assert sum(1 for e in fleet.events(limit=100_000) if e.name == "delivered") == before
