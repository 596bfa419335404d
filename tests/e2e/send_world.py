"""Shared set-up for the sending end-to-end tests: a simulated fleet registered in a Herald workspace.

``register_fleet`` writes every simulated device into the workspace the way the collector stores an SDK
registration (the same ``registration`` body the simulator's SDK posts, validated by the collector's own
``parse_registration``), in a few bulk statements: posting 5,000 registrations one by one takes minutes.

``Arrivals`` listens to the fleet and counts, per Herald delivery id, every push a device accepted
(``delivered`` the first time, ``duplicate`` for a resend of the same delivery) and every time one was
displayed: the raw duplicates the simulator saw.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from core.collector.schemas import parse_registration
from core.persistence import Database
from core.persistence.bulk import DriverValues, insert_returning
from simulator.device import VirtualDevice
from simulator.fleet import Fleet, FleetEvent
from simulator.reporter import registration


def register_fleet(db: Database, devices: Iterable[VirtualDevice], webpush_base_url: str,
                   *, at: datetime | None = None) -> dict[int, int]:
    """Store each device as the collector would; returns Herald device id → simulator device id."""
    values = DriverValues(db.backend)
    when = values.instant(at or datetime.now(UTC))
    regs = []
    for device in devices:
        body = registration(device, webpush_base_url)
        if body is not None:
            regs.append((device.id, parse_registration(body)))
    with db.transaction() as s:
        users = insert_returning(
            s, "users", ("external_id", "attributes", "marketing_consent", "first_seen", "last_seen"),
            [(r.user, "{}", True, when, when) for _, r in regs], "(external_id) DO NOTHING", "id, external_id",
        )
        user_ids = {external: uid for uid, external in users}
        rows = [
            (user_ids[r.user], r.platform.value, r.provider.value, r.token,
             values.json(r.subscription) if r.subscription is not None else None, r.push_enabled, r.app_version,
             r.locale, r.timezone, when, when)
            for _, r in regs
        ]
        stored = insert_returning(
            s, "devices", ("user_id", "platform", "provider", "token", "subscription", "push_enabled",
                           "app_version", "locale", "timezone", "registered_at", "last_registered_at"),
            rows, "(provider, token) DO NOTHING", "id, token",
        )
    by_token = {token: herald_id for herald_id, token in stored}
    return {by_token[r.token]: sim_id for sim_id, r in regs}


class Arrivals:
    """Counts per delivery id what the fleet accepted and displayed (a fleet listener; thread-safe)."""

    def __init__(self, fleet: Fleet) -> None:
        self._lock = threading.Lock()
        self.accepted: Counter[int] = Counter()
        self.displayed: Counter[int] = Counter()
        fleet.add_listener(self._on_event)

    def _on_event(self, event: FleetEvent, device: VirtualDevice) -> None:
        if event.delivery_id is None:
            return
        with self._lock:
            if event.name in ("delivered", "duplicate"):
                self.accepted[event.delivery_id] += 1
            elif event.name == "displayed":
                self.displayed[event.delivery_id] += 1

    def snapshot(self) -> tuple[Counter[int], Counter[int]]:
        """Copies of (accepted, displayed) per delivery id."""
        with self._lock:
            return Counter(self.accepted), Counter(self.displayed)


def tray_entries(fleet: Fleet, sim_device_id: int, campaign_id: int) -> list[str | None]:
    """The tray keys of the campaign's notifications on one device's screen."""
    device = fleet.device(sim_device_id)
    return [e.notification.tray_key for e in device.tray or () if e.campaign_id == str(campaign_id)]
