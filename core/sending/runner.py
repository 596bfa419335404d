"""One way to run the sending engine on a provider profile, shared by ``herald send`` and ``herald serve``.

``running_engine`` builds the profile's providers, the engine with Herald's personaliser and the lease from
``HERALD_LEASE_SECONDS``, and closes the engine and then the providers when the block ends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from core.clock import Clock, SystemClock
from core.composer.personalise import Personaliser
from core.config import simulator_state_dir
from core.errors import ConfigurationError
from core.events import EventBus
from core.persistence import Database
from core.providers.factory import build_providers
from core.providers.profiles import ProviderProfile, load_profile, load_simulator_profile, provider_settings
from core.providers.secret_store import SecretStore
from core.sending.engine import EngineSettings, SendEngine
from core.sending.lane import LaneSettings

#: Environment variable: seconds a claim holds its rows before another sender may take them.
LEASE_ENV = "HERALD_LEASE_SECONDS"


def engine_settings_from_env() -> EngineSettings:
    """The engine's defaults, with the lease from ``HERALD_LEASE_SECONDS`` when it is set."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return EngineSettings()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ConfigurationError(f"{LEASE_ENV} must be a positive number of seconds, not {raw!r}")
    return EngineSettings(lane=LaneSettings(lease_seconds=seconds))


def load_named_profile(name: str, simulator_state: Path | None) -> ProviderProfile:
    """``simulator`` from the simulator's state folder, anything else from the encrypted store."""
    if name == "simulator":
        return load_simulator_profile(simulator_state or simulator_state_dir())
    return load_profile(SecretStore.default(), name)


@asynccontextmanager
async def running_engine(
    db: Database, profile: ProviderProfile, *, bus: EventBus | None = None, clock: Clock | None = None,
    apns_h2c: bool = False,
) -> AsyncIterator[SendEngine]:
    """A send engine over ``profile``'s providers, closed (engine first, then providers) on exit."""
    clock = clock or SystemClock()
    with provider_settings(profile, apns_h2c=apns_h2c) as settings:
        providers = build_providers(settings, clock)
        engine = SendEngine(db, providers, clock, bus or EventBus(), personalise=Personaliser(db),
                            settings=engine_settings_from_env())
        try:
            yield engine
        finally:
            await engine.aclose()
            for provider in providers.values():
                await provider.aclose()
