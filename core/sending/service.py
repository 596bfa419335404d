"""Running the sending engine next to another service (``herald serve``): unfinished sends resume by themselves.

``resume_sending(db, profile_name)`` returns a companion coroutine for ``serve_forever``: it loads the
profile, builds the providers, resumes every campaign left ``sending`` (rows with expired leases come back),
and keeps sending until the server stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from core.config import simulator_state_dir
from core.errors import HeraldError
from core.persistence import Database
from core.providers.profiles import ProviderProfile
from core.sending.runner import load_named_profile, running_engine

log = logging.getLogger(__name__)

#: Work that runs beside a server until the event is set.
Companion = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def resume_sending(db: Database, profile_name: str | None, simulator_state: Path | None = None) -> Companion | None:
    """A companion that sends until stopped, or None when no profile can be loaded (the reason is logged)."""
    state = simulator_state or simulator_state_dir()
    name = profile_name or ("simulator" if (state / "profile.json").exists() else None)
    if name is None:
        return None
    try:
        profile = load_named_profile(name, state)
    except (HeraldError, FileNotFoundError) as exc:
        log.warning("not sending: profile %s cannot be loaded: %s", name, exc)
        return None
    return lambda stop: _run(db, profile, stop)


async def _run(db: Database, profile: ProviderProfile, stop: asyncio.Event) -> None:
    async with running_engine(db, profile) as engine:
        resumed = await engine.resume_unfinished()
        if resumed:
            log.info("resumed campaigns %s", resumed)
        await engine.serve(stop)
