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
import signal
from pathlib import Path
from typing import Annotated

import typer

from core.cli_support import DbOption, err, fail, out, progress_bar
from core.config import resolve_db_url
from core.domain import CampaignState
from core.errors import HeraldError
from core.events import EventBus
from core.persistence import Database, open_database
from core.providers.profiles import ProviderProfile
from core.sending.engine import SendEngine
from core.sending.outbox import DeliveryOutbox
from core.sending.progress import CampaignStateChanged, ProviderProgress
from core.sending.runner import load_named_profile, running_engine

_FINAL = {CampaignState.COMPLETED, CampaignState.CANCELLED, CampaignState.RECALLED}
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
            final = asyncio.run(_send(database, chosen, campaign, fast, apns_h2c))
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


async def _send(
    db: Database, profile: ProviderProfile, campaign_id: int, fast: bool, apns_h2c: bool
) -> CampaignState | None:
    bus = EventBus()
    async with running_engine(db, profile, bus=bus, apns_h2c=apns_h2c) as engine:
        return await _follow(engine, bus, campaign_id, fast)


async def _follow(engine: SendEngine, bus: EventBus, campaign_id: int, fast: bool) -> CampaignState | None:
    """Start the campaign and serve until it ends (or Ctrl+C), drawing a progress bar from the events."""
    stop = asyncio.Event()
    final: list[CampaignState] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
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
    return final[0] if final else None
