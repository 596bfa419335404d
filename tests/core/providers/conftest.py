"""One in-process simulator for the provider tests, and helpers to address its devices.

The simulator runs in a ``RuntimeThread`` (its own loop and thread) for the whole session and is stopped,
thread joined, at the end. Each test builds its providers inside its own event loop (pytest-asyncio), as the
engine would in its one long-lived loop, and closes them before the loop ends. Faults are cleared after every
test; tests that change a device (uninstall) take a fresh one from ``devices``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core.composer.content import PushContent
from core.composer.payloads import Target, build_request
from core.domain import Platform, Provider
from core.providers.base import PushRequest
from core.providers.factory import ProviderSettings, settings_from_simulator_profile
from simulator.credentials import b64url
from simulator.device import VirtualDevice
from simulator.fleet import Fleet
from simulator.runtime import RuntimeOptions, RuntimeThread
from simulator.services import SimulatorServices

_delivery_ids = itertools.count(1000)


class ShiftedClock:
    """Wall time plus an adjustable offset, and a monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.mono = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return self.mono


class Devices:
    """Hands out each simulated device once, per provider."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._pools = {p: iter([d for d in fleet.devices() if d.provider is p]) for p in Provider}

    def take(self, provider: Provider) -> VirtualDevice:
        try:
            return next(self._pools[provider])
        except StopIteration:
            raise AssertionError(f"the test fleet has no unused {provider} device left") from None


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeThread]:
    thread = RuntimeThread(tmp_path_factory.mktemp("sim"), RuntimeOptions(
        devices=600, seed=11, mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1},
    ))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="session")
def fleet(simulator: RuntimeThread) -> Fleet:
    assert simulator.runtime.fleet is not None
    return simulator.runtime.fleet


@pytest.fixture(scope="session")
def devices(fleet: Fleet) -> Devices:
    return Devices(fleet)


@pytest.fixture
def services(simulator: RuntimeThread) -> Iterator[SimulatorServices]:
    services = simulator.runtime.services
    assert services is not None
    yield services
    for name in ("fcm", "apns", "webpush", "oauth"):
        services.faults[name].clear()
        services.faults[name].update(tokens_valid_after=0.0)


@pytest.fixture(scope="session")
def profile_json(simulator: RuntimeThread) -> dict[str, str]:
    data = json.loads((simulator.runtime.state_dir / "profile.json").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="session")
def settings(profile_json: dict[str, str]) -> ProviderSettings:
    return settings_from_simulator_profile(profile_json)


def request_for(device: VirtualDevice, webpush_base_url: str = "", *, content: PushContent | None = None,
                token: str | None = None) -> PushRequest:
    """A request built by the composer for ``device``; ``token`` overrides its address (Web Push: its id)."""
    address = token if token is not None else device.address
    subscription = None
    if device.subscription is not None:
        keys = device.subscription.keys
        subscription = {"endpoint": f"{webpush_base_url}/push/{address}",
                        "keys": {"p256dh": b64url(keys.public_key), "auth": b64url(keys.auth_secret)}}
    t = Target(next(_delivery_ids), 7, device.platform, device.provider, address, subscription)
    body = content or PushContent(title="Flash sale", body="40% off today", replace_key=f"k{t.delivery_id}")
    return build_request(body, t, int(datetime.now(UTC).timestamp()))


def displayed(fleet: Fleet, device: VirtualDevice, delivery_id: int | None) -> bool:
    """True when the device reported showing that delivery."""
    return any(e.name == "displayed" and e.delivery_id == delivery_id for e in fleet.events(device.id, limit=1000))
