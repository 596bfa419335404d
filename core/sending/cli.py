"""``herald send --campaign ID``: send a campaign through a provider profile, with a progress bar.

``--profile simulator`` (the default) loads the bundled simulator's exported profile straight from its
state folder with the same loaders as production credentials; any other name is a profile imported with
``herald profile import-production`` (decrypted from the secret store). Ctrl+C stops sending; rows in
flight keep their leases and the next ``herald send`` (or ``herald serve``) picks up where this one stopped.

``HERALD_LEASE_SECONDS`` sets how long a claim holds its rows (default 120 s): after a crash, another
``herald send`` takes the dead sender's rows once their lease has run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from core.cli_support import DbOption, err, fail, out, progress_bar
from core.clock import SystemClock
from core.composer.personalise import Personaliser
from core.config import resolve_db_url, simulator_state_dir
from core.domain import CampaignState
from core.errors import ConfigurationError, HeraldError
from core.events import EventBus
from core.persistence import Database, open_database
from core.providers.factory import ProviderSettings, build_providers
from core.providers.profiles import ProviderProfile, load_profile, load_simulator_profile, provider_settings
from core.providers.secret_store import SecretStore
from core.sending.engine import EngineSettings, SendEngine
from core.sending.lane import LaneSettings
from core.sending.outbox import DeliveryOutbox
from core.sending.progress import CampaignStateChanged, ProviderProgress

_FINAL = {CampaignState.COMPLETED, CampaignState.CANCELLED, CampaignState.RECALLED}
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


def register(cli: typer.Typer) -> None:
    """Add ``send`` to the root command."""

    @cli.command("send")
    def send(
        campaign: Annotated[int, typer.Option("--campaign", help="The campaign's id (herald campaign list).")],
        profile: Annotated[str, typer.Option(help="simulator, or an imported production profile's name.")] = (
            "simulator"),
        fast: Annotated[bool, typer.Option("--fast", help="Fast Push: highest priority, first message at once.")]
        = False,
        simulator_state: Annotated[Path | None, typer.Option(help="The simulator's state folder.")] = None,
        apns_h2c: Annotated[bool, typer.Option(help="Use the simulator's cleartext HTTP/2 APNs endpoint.")] = False,
        db: DbOption = None,
    ) -> None:
        """Send a campaign and follow it to the end."""
        try:
            database = open_database(resolve_db_url(db))
            chosen = load_named_profile(profile, simulator_state)
        except (HeraldError, FileNotFoundError) as exc:
            raise fail(f"{exc}" if isinstance(exc, HeraldError) else
                       f"no simulator profile found ({exc.filename}); start it once: herald simulator") from None
        try:
            with provider_settings(chosen, apns_h2c=apns_h2c) as settings:
                final = asyncio.run(_send(database, settings, campaign, fast))
        except HeraldError as exc:
            raise fail(str(exc)) from None
        finally:
            database.dispose()
        counts = DeliveryOutbox(database).counts(campaign)
        summary = ", ".join(f"{state} {n:,}" for state, n in sorted(counts.items()) if n)
        if final is None:
            err.print(f"Stopped. Campaign {campaign}: {summary}. Run the same command to carry on.", highlight=False)
            raise typer.Exit(130)
        out.print(f"Campaign {campaign} {final.value}: {summary}.", highlight=False)


async def _send(db: Database, settings: ProviderSettings, campaign_id: int, fast: bool) -> CampaignState | None:
    clock = SystemClock()
    bus = EventBus()
    providers = build_providers(settings, clock)
    engine = SendEngine(db, providers, clock, bus, personalise=Personaliser(db),
                        settings=engine_settings_from_env())
    stop = asyncio.Event()
    final: list[CampaignState] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"Campaign {campaign_id}", total=None)
            done = [0]

            def on_progress(event: ProviderProgress) -> None:
                done[0] += event.sent + sum(event.failed.values()) + event.suppressed
                bar.update(task, completed=done[0])

            def on_state(event: CampaignStateChanged) -> None:
                if event.campaign_id == campaign_id and event.state in _FINAL:
                    final.append(event.state)
                    total = bar.tasks[task].total
                    bar.update(task, completed=total if total is not None else done[0])
                    stop.set()

            bus.subscribe(on_progress, ProviderProgress)
            bus.subscribe(on_state, CampaignStateChanged)
            started = await engine.start_campaign(campaign_id, fast=fast)
            bar.update(task, total=started.audience)
            if not final:
                await engine.serve(stop)
    finally:
        await engine.aclose()
        for provider in providers.values():
            await provider.aclose()
    return final[0] if final else None
