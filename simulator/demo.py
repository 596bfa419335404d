"""Building the demo workspace: a seeded population on the simulator and its 90 days of history in Herald.

Steps, each over the wire as a real app would do it:

1. start the simulator once in its state directory (credentials, ports and the Web Push origin get fixed);
2. generate the population (``simulator.population``) and give every user their 1–3 virtual devices;
3. hand the users' attributes to Herald (a callback: the caller imports the CSV with core's user import,
   since the SDK API carries no attributes);
4. register every device with Herald's SDK API;
5. backfill the history through the SDK API in batches, reporting progress.

Running it again with the same seed adds nothing: devices are kept, events come back as duplicates.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.backfill import BackfillResult, backfill
from simulator.population import (
    generate_population,
    register_devices,
    register_with_herald,
    write_users_csv,
)
from simulator.runtime import RuntimeOptions, RuntimeThread

#: (stage, done, total): stage is "devices", "users", "registrations" or "history".
DemoProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo put where."""

    users: int
    devices: int
    registrations_failed: int
    history: BackfillResult


def build_demo(
    state_dir: Path,
    herald_url: str,
    sdk_key: str,
    *,
    users: int,
    seed: int,
    now: datetime,
    import_users_csv: Callable[[Path], Any],
    progress: DemoProgress | None = None,
) -> DemoResult:
    """Create the demo population in ``state_dir`` and report it to Herald at ``herald_url``."""
    report = progress or (lambda stage, done, total: None)
    population = generate_population(users, seed, now)
    thread = RuntimeThread(state_dir, RuntimeOptions(seed=seed))
    info = thread.start()
    try:
        fleet = thread.runtime.fleet
        assert fleet is not None
        report("devices", 0, len(population))
        devices = register_devices(fleet, population)
        report("devices", len(population), len(population))
        with tempfile.TemporaryDirectory(prefix="herald-demo-") as tmp:
            report("users", 0, len(population))
            import_users_csv(write_users_csv(population, Path(tmp) / "demo-users.csv"))
            report("users", len(population), len(population))
        report("registrations", 0, len(devices))
        stats = asyncio.run(register_with_herald(
            devices, herald_url, sdk_key, fleet_id=fleet.fleet_id, webpush_base_url=info.profile.webpush_base_url,
        ))
        report("registrations", len(devices), len(devices))
        history = asyncio.run(backfill(population, herald_url, sdk_key,
                                       progress=lambda done, total: report("history", done, total)))
    finally:
        thread.stop()
    return DemoResult(len(population), len(devices), stats.registration_failures, history)
