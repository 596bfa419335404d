"""WebPushProvider against the simulator's RFC 8030 push service (VAPID checked, payload decrypted)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.domain import Provider
from core.errors import AuthFailed, PayloadRejected, Throttled, TokenInvalid, Transient
from core.providers.base import SendResult, WebPushRequest
from core.providers.factory import ProviderSettings
from core.providers.settings import WebPushSettings
from core.providers.webpush import WebPushProvider
from simulator.fleet import Fleet
from simulator.services import SimulatorServices
from tests.core.providers.conftest import Devices, ShiftedClock, displayed, request_for


@pytest.fixture
def wp_settings(settings: ProviderSettings) -> WebPushSettings:
    assert settings.webpush is not None
    return settings.webpush


@pytest.fixture
def base_url(profile_json: dict[str, str]) -> str:
    return profile_json["webpush_base_url"]


@pytest_asyncio.fixture
async def webpush(wp_settings: WebPushSettings) -> AsyncIterator[WebPushProvider]:
    provider = WebPushProvider(wp_settings)
    yield provider
    await provider.aclose()


def _other_key_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _request(devices: Devices, base_url: str, **changes: object) -> WebPushRequest:
    request = request_for(devices.take(Provider.WEBPUSH), base_url)
    assert isinstance(request, WebPushRequest)
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_message_is_decrypted_and_displayed(
    webpush: WebPushProvider, devices: Devices, fleet: Fleet, base_url: str
) -> None:
    device = devices.take(Provider.WEBPUSH)
    request = request_for(device, base_url)
    [outcome] = await webpush.send_batch([request])
    assert isinstance(outcome, SendResult)
    assert outcome.message_id is not None and outcome.message_id.startswith(f"{base_url}/message/")
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_ttl_urgency_and_topic_reach_the_push_service(
    webpush: WebPushProvider, devices: Devices, fleet: Fleet, base_url: str
) -> None:
    device = devices.take(Provider.WEBPUSH)
    fleet.set_online(device.id, False)
    request = request_for(device, base_url)
    assert isinstance(request, WebPushRequest) and request.topic
    assert isinstance(await webpush.send(request), SendResult)
    [pending] = device.pending or []
    push = pending.push
    assert push.collapse_key == request.topic and push.priority == "high"
    assert push.expires_at is not None
    assert (push.expires_at - push.received_at).total_seconds() == request.ttl
    fleet.set_online(device.id, True)
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_vapid_header_is_signed_once_per_origin_and_renewed_at_half_life(
    wp_settings: WebPushSettings, devices: Devices, base_url: str
) -> None:
    clock = ShiftedClock()
    provider = WebPushProvider(wp_settings, clock=clock)
    try:
        outcomes = await provider.send_batch([_request(devices, base_url) for _ in range(10)])
        assert all(isinstance(o, SendResult) for o in outcomes)
        assert provider.vapid.signed == 1
        clock.offset = wp_settings.vapid_lifetime_s / 2 - 60
        assert isinstance(await provider.send(_request(devices, base_url)), SendResult)
        assert provider.vapid.signed == 1
        clock.offset = wp_settings.vapid_lifetime_s / 2 + 1
        assert provider.vapid.signed == 1
        provider.vapid.authorization(base_url)
        assert provider.vapid.signed == 2
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_large_batch_is_encrypted_in_a_process_pool(
    wp_settings: WebPushSettings, devices: Devices, fleet: Fleet, base_url: str
) -> None:
    provider = WebPushProvider(dataclasses.replace(wp_settings, process_pool_threshold=8, process_pool_workers=2))
    targets = [devices.take(Provider.WEBPUSH) for _ in range(20)]
    requests = [request_for(d, base_url) for d in targets]
    try:
        outcomes = await provider.send_batch(requests)
        assert provider._pool is not None
    finally:
        await provider.aclose()
    assert provider._pool is None
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert all(displayed(fleet, d, r.delivery_id) for d, r in zip(targets, requests, strict=True))


@pytest.mark.asyncio
async def test_unsubscribed_browser_is_410_token_invalid(
    webpush: WebPushProvider, devices: Devices, fleet: Fleet, base_url: str
) -> None:
    device = devices.take(Provider.WEBPUSH)
    request = request_for(device, base_url)
    fleet.opt_out(device.id)
    outcome = await webpush.send(request)  # type: ignore[arg-type]
    assert isinstance(outcome, TokenInvalid)
    assert (outcome.code, outcome.status) == ("410", 410)


@pytest.mark.asyncio
async def test_unknown_subscription_is_404_token_invalid(
    webpush: WebPushProvider, devices: Devices, base_url: str
) -> None:
    device = devices.take(Provider.WEBPUSH)
    request = request_for(device, base_url, token="no-such-subscription")
    outcome = await webpush.send(request)  # type: ignore[arg-type]
    assert isinstance(outcome, TokenInvalid)
    assert outcome.status == 404


@pytest.mark.asyncio
async def test_oversized_payload_is_413_payload_rejected(
    webpush: WebPushProvider, devices: Devices, base_url: str
) -> None:
    outcome = await webpush.send(_request(devices, base_url, payload=b"x" * 4000))
    assert isinstance(outcome, PayloadRejected)
    assert outcome.status == 413


@pytest.mark.asyncio
async def test_bad_topic_is_400_payload_rejected(webpush: WebPushProvider, devices: Devices, base_url: str) -> None:
    outcome = await webpush.send(_request(devices, base_url, topic="t" * 33))
    assert isinstance(outcome, PayloadRejected)
    assert outcome.status == 400


@pytest.mark.asyncio
async def test_wrong_vapid_key_is_403_auth_failed(
    wp_settings: WebPushSettings, devices: Devices, base_url: str
) -> None:
    other = dataclasses.replace(wp_settings, vapid_private_key_path=None, vapid_private_key_pem=_other_key_pem())
    provider = WebPushProvider(other)
    try:
        outcome = await provider.send(_request(devices, base_url))
        check = await provider.check_connection()
    finally:
        await provider.aclose()
    assert isinstance(outcome, AuthFailed)
    assert outcome.status == 403
    assert not check.ok and "vapid_public_key" in check.detail


@pytest.mark.asyncio
async def test_429_is_throttled_with_retry_after(
    webpush: WebPushProvider, devices: Devices, services: SimulatorServices, base_url: str
) -> None:
    services.faults["webpush"].update(rate_429=1.0, retry_after_s=4)
    outcome = await webpush.send(_request(devices, base_url))
    assert isinstance(outcome, Throttled)
    assert (outcome.status, outcome.retry_after) == (429, 4.0)


@pytest.mark.parametrize("fault, status", [("rate_500", 500), ("rate_503", 503)])
@pytest.mark.asyncio
async def test_server_errors_are_transient(
    webpush: WebPushProvider, devices: Devices, services: SimulatorServices, base_url: str, fault: str, status: int
) -> None:
    services.faults["webpush"].update(**{fault: 1.0})
    outcome = await webpush.send(_request(devices, base_url))
    assert isinstance(outcome, Transient)
    assert (outcome.status, outcome.ambiguous) == (status, False)


@pytest.mark.asyncio
async def test_reset_after_the_request_was_read_is_ambiguous(
    webpush: WebPushProvider, devices: Devices, fleet: Fleet, services: SimulatorServices, base_url: str
) -> None:
    services.faults["webpush"].update(reset_rate=1.0)
    outcome = await webpush.send(_request(devices, base_url))
    assert isinstance(outcome, Transient)
    assert outcome.ambiguous and outcome.status is None
    services.faults["webpush"].clear()
    device = devices.take(Provider.WEBPUSH)
    request = request_for(device, base_url)
    assert isinstance(await webpush.send(request), SendResult)  # type: ignore[arg-type]
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_check_connection_self_checks_vapid(webpush: WebPushProvider, wp_settings: WebPushSettings) -> None:
    check = await webpush.check_connection()
    assert check.ok and check.provider is Provider.WEBPUSH
    assert check.facts["public_key"] == wp_settings.vapid_public_key
