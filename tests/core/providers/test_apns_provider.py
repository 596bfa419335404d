"""ApnsProvider against the simulator's APNs provider API (TLS with the local CA): delivery and the error matrix."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.domain import Provider
from core.errors import AuthFailed, PayloadRejected, Throttled, TokenInvalid, Transient
from core.providers.apns import ApnsProvider
from core.providers.base import ApnsRequest, SendResult
from core.providers.factory import ProviderSettings, settings_from_simulator_profile
from core.providers.settings import ApnsSettings
from simulator.fleet import Fleet
from simulator.services import SimulatorServices
from tests.core.providers.conftest import Devices, ShiftedClock, displayed, request_for


@pytest.fixture
def apns_settings(settings: ProviderSettings) -> ApnsSettings:
    assert settings.apns is not None
    return settings.apns


@pytest_asyncio.fixture
async def apns(apns_settings: ApnsSettings) -> AsyncIterator[ApnsProvider]:
    provider = ApnsProvider(apns_settings)
    yield provider
    await provider.aclose()


def _request(devices: Devices, **changes: Any) -> ApnsRequest:
    request = request_for(devices.take(Provider.APNS))
    assert isinstance(request, ApnsRequest)
    return dataclasses.replace(request, **changes)


@pytest.mark.asyncio
async def test_alert_is_displayed_on_the_device(apns: ApnsProvider, devices: Devices, fleet: Fleet) -> None:
    device = devices.take(Provider.APNS)
    request = request_for(device)
    assert isinstance(request, ApnsRequest)
    [outcome] = await apns.send_batch([request])
    assert outcome == SendResult(message_id=request.apns_id)
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_a_batch_runs_concurrently_on_one_connection_with_one_token(
    apns: ApnsProvider, devices: Devices, fleet: Fleet, services: SimulatorServices
) -> None:
    targets = [devices.take(Provider.APNS) for _ in range(10)]
    requests = [request_for(d) for d in targets for _ in range(20)]
    before = services.apns_connections_opened
    outcomes = await apns.send_batch(requests)
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert services.apns_connections_opened - before == 1
    assert apns.tokens.signed == 1
    assert all(displayed(fleet, d, r.delivery_id) for d, r in zip(targets, requests[::20], strict=True))


@pytest.mark.asyncio
async def test_h2c_prior_knowledge(profile_json: dict[str, str], devices: Devices, fleet: Fleet) -> None:
    settings = settings_from_simulator_profile(profile_json, apns_h2c=True).apns
    assert settings is not None and settings.base_url.startswith("http://")
    provider = ApnsProvider(settings)
    try:
        device = devices.take(Provider.APNS)
        request = request_for(device)
        assert isinstance(await provider.send(request), SendResult)  # type: ignore[arg-type]
        assert displayed(fleet, device, request.delivery_id)
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_unknown_token_is_bad_device_token(apns: ApnsProvider, devices: Devices) -> None:
    outcome = await apns.send(_request(devices, token="ab" * 32))
    assert isinstance(outcome, TokenInvalid)
    assert (outcome.code, outcome.status, outcome.invalid_since) == ("BadDeviceToken", 400, None)


@pytest.mark.asyncio
async def test_uninstalled_app_is_410_with_the_unregistration_time(
    apns: ApnsProvider, devices: Devices, fleet: Fleet
) -> None:
    device = devices.take(Provider.APNS)
    fleet.uninstall(device.id)
    assert device.uninstalled_at is not None
    request = request_for(device)
    assert isinstance(request, ApnsRequest)
    outcome = await apns.send(request)
    assert isinstance(outcome, TokenInvalid)
    assert (outcome.code, outcome.status) == ("Unregistered", 410)
    expected = datetime.fromtimestamp(int(device.uninstalled_at.timestamp() * 1000) / 1000, UTC)
    assert outcome.invalid_since == expected


@pytest.mark.asyncio
async def test_oversized_payload_is_413_payload_rejected(apns: ApnsProvider, devices: Devices) -> None:
    body = {"aps": {"alert": "x"}, "pad": ""}
    body["pad"] = "p" * (4097 - len(json.dumps(body, separators=(",", ":"))))
    payload = json.dumps(body, separators=(",", ":")).encode()
    assert len(payload) == 4097
    outcome = await apns.send(_request(devices, payload=payload))
    assert isinstance(outcome, PayloadRejected)
    assert (outcome.code, outcome.status) == ("PayloadTooLarge", 413)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"collapse_id": "c" * 65}, "BadCollapseId"),
        ({"push_type": "background", "priority": 10, "payload": b'{"aps":{"content-available":1}}'}, "BadPriority"),
        ({"payload": b'{"herald":{}}'}, "PayloadEmpty"),
    ],
)
@pytest.mark.asyncio
async def test_other_400_reasons_are_payload_rejected(
    apns: ApnsProvider, devices: Devices, changes: dict[str, Any], reason: str
) -> None:
    outcome = await apns.send(_request(devices, **changes))
    assert isinstance(outcome, PayloadRejected)
    assert (outcome.code, outcome.status) == (reason, 400)


@pytest.mark.asyncio
async def test_wrong_topic_is_auth_failed(apns_settings: ApnsSettings, devices: Devices) -> None:
    provider = ApnsProvider(dataclasses.replace(apns_settings, topic="com.example.someone-else"))
    try:
        outcome = await provider.send(_request(devices))
    finally:
        await provider.aclose()
    assert isinstance(outcome, AuthFailed)
    assert (outcome.code, outcome.status) == ("DeviceTokenNotForTopic", 400)


@pytest.mark.asyncio
async def test_expired_provider_token_is_refreshed_once_and_the_request_retried(
    apns_settings: ApnsSettings, devices: Devices, fleet: Fleet, services: SimulatorServices
) -> None:
    clock = ShiftedClock()
    clock.offset = -5.0
    provider = ApnsProvider(apns_settings, clock=clock)
    try:
        assert isinstance(await provider.send(_request(devices)), SendResult)
        services.faults["apns"].expire_tokens()
        clock.offset = 1.0
        device = devices.take(Provider.APNS)
        request = request_for(device)
        assert isinstance(request, ApnsRequest)
        outcomes = await provider.send_batch([request] * 5)
    finally:
        await provider.aclose()
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert provider.tokens.signed == 2
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_token_still_expired_after_the_refresh_is_auth_failed(
    apns_settings: ApnsSettings, devices: Devices, services: SimulatorServices
) -> None:
    clock = ShiftedClock()
    clock.offset = -5.0
    provider = ApnsProvider(apns_settings, clock=clock)
    try:
        services.faults["apns"].expire_tokens()
        outcome = await provider.send(_request(devices))
    finally:
        await provider.aclose()
    assert isinstance(outcome, AuthFailed)
    assert outcome.code == "ExpiredProviderToken"
    assert provider.tokens.signed == 2


@pytest.mark.asyncio
async def test_token_is_reused_then_resigned_after_the_refresh_age(
    apns_settings: ApnsSettings, devices: Devices
) -> None:
    clock = ShiftedClock()
    provider = ApnsProvider(apns_settings, clock=clock)
    try:
        for _ in range(3):
            assert isinstance(await provider.send(_request(devices)), SendResult)
        clock.mono += apns_settings.token_refresh_s - 1
        assert isinstance(await provider.send(_request(devices)), SendResult)
        assert provider.tokens.signed == 1
        clock.mono += 1
        assert isinstance(await provider.send(_request(devices)), SendResult)
        assert provider.tokens.signed == 2
    finally:
        await provider.aclose()


@pytest.mark.asyncio
async def test_invalid_provider_token_is_auth_failed(
    apns: ApnsProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["apns"].update(rate_auth_error=1.0)
    outcome = await apns.send(_request(devices))
    assert isinstance(outcome, AuthFailed)
    assert (outcome.code, outcome.status) == ("InvalidProviderToken", 403)
    assert apns.tokens.signed == 1


@pytest.mark.asyncio
async def test_429_is_throttled_with_retry_after(
    apns: ApnsProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["apns"].update(rate_429=1.0, retry_after_s=7)
    outcome = await apns.send(_request(devices))
    assert isinstance(outcome, Throttled)
    assert (outcome.code, outcome.status, outcome.retry_after) == ("TooManyRequests", 429, 7.0)


@pytest.mark.parametrize(("fault", "status", "reason"), [("rate_500", 500, "InternalServerError"),
                                                         ("rate_503", 503, "ServiceUnavailable")])
@pytest.mark.asyncio
async def test_server_errors_are_transient_not_ambiguous(
    apns: ApnsProvider, devices: Devices, services: SimulatorServices, fault: str, status: int, reason: str
) -> None:
    services.faults["apns"].update(**{fault: 1.0})
    outcome = await apns.send(_request(devices))
    assert isinstance(outcome, Transient)
    assert (outcome.code, outcome.status, outcome.ambiguous) == (reason, status, False)


@pytest.mark.asyncio
async def test_reset_after_the_request_was_read_is_ambiguous_then_reconnects(
    apns: ApnsProvider, devices: Devices, fleet: Fleet, services: SimulatorServices
) -> None:
    assert isinstance(await apns.send(_request(devices)), SendResult)
    services.faults["apns"].update(reset_rate=1.0)
    outcome = await apns.send(_request(devices))
    assert isinstance(outcome, Transient)
    assert outcome.ambiguous is True and outcome.status is None
    services.faults["apns"].clear()
    before = services.apns_connections_opened
    device = devices.take(Provider.APNS)
    request = request_for(device)
    assert isinstance(await apns.send(request), SendResult)  # type: ignore[arg-type]
    assert services.apns_connections_opened == before + 1
    assert displayed(fleet, device, request.delivery_id)


@pytest.mark.asyncio
async def test_goaway_after_n_streams_reconnects_for_the_next_requests(
    apns: ApnsProvider, devices: Devices, services: SimulatorServices
) -> None:
    services.faults["apns"].update(goaway_after_streams=3)
    before = services.apns_connections_opened
    outcomes = [await apns.send(_request(devices)) for _ in range(7)]
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert services.apns_connections_opened - before == 3


@pytest.mark.asyncio
async def test_goaway_under_load_leaves_only_ambiguous_failures_that_a_resend_collapses(
    apns: ApnsProvider, devices: Devices, fleet: Fleet, services: SimulatorServices
) -> None:
    """httpcore fails streams still awaiting an answer when GOAWAY arrives, though the server took them.

    Those must come back as ambiguous transients (never as a permanent error), and a resend with the same
    apns-id reaches the device at most once more (the device drops the duplicate).
    """
    services.faults["apns"].update(goaway_after_streams=25)
    targets = [devices.take(Provider.APNS) for _ in range(50)]
    requests = [request_for(d) for d in targets]
    outcomes = await apns.send_batch(requests)
    failed = [i for i, o in enumerate(outcomes) if not isinstance(o, SendResult)]
    assert len(failed) < len(requests)
    for i in failed:
        outcome = outcomes[i]
        assert isinstance(outcome, Transient) and outcome.ambiguous, outcome
    services.faults["apns"].clear()
    resent = await apns.send_batch([requests[i] for i in failed])
    assert all(isinstance(o, SendResult) for o in resent)
    for device, request in zip(targets, requests, strict=True):
        shown = [e for e in fleet.events(device.id, limit=1000)
                 if e.name == "displayed" and e.delivery_id == request.delivery_id]
        assert len(shown) == 1


@pytest.mark.asyncio
async def test_check_connection_accepts_the_key_by_bad_device_token(apns: ApnsProvider) -> None:
    check = await apns.check_connection()
    assert check.ok and check.provider is Provider.APNS
    assert "BadDeviceToken" in check.detail


@pytest.mark.asyncio
async def test_check_connection_with_another_key_says_what_to_fix(apns_settings: ApnsSettings) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    provider = ApnsProvider(dataclasses.replace(apns_settings, key_path=None, key_pem=other))
    try:
        check = await provider.check_connection()
    finally:
        await provider.aclose()
    assert not check.ok
    assert check.facts["answer"] == "InvalidProviderToken"
    assert "key" in check.detail
    assert other not in repr(provider.settings)
