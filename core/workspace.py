"""A read-only overview of a workspace: what the console's first screen and ``herald status`` show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from core.collector.sdk_key import masked, stored_sdk_key
from core.persistence import Database
from core.persistence.models import Campaign, Device, Event, User


@dataclass(frozen=True, slots=True)
class WorkspaceSummary:
    """Counts that tell a person what is in a workspace."""

    location: str
    backend: str
    users: int
    devices_by_platform: dict[str, int]
    reachable_devices: int
    events: int
    campaigns: int
    sdk_key_hint: str | None

    @property
    def devices(self) -> int:
        """All registered devices."""
        return sum(self.devices_by_platform.values())

    @property
    def is_empty(self) -> bool:
        """True when nothing has been imported or registered yet."""
        return self.users == 0 and self.devices == 0 and self.events == 0


def summarize(db: Database) -> WorkspaceSummary:
    """Count users, devices per platform, reachable devices, events and campaigns."""
    with db.transaction() as s:
        users = s.scalar(select(func.count()).select_from(User)) or 0
        per_platform = dict(s.execute(select(Device.platform, func.count()).group_by(Device.platform)).all())
        reachable = s.scalar(
            select(func.count()).select_from(Device)
            .where(Device.invalidated_at.is_(None), Device.push_enabled.is_(True))
        ) or 0
        events = s.scalar(select(func.count()).select_from(Event)) or 0
        campaigns = s.scalar(select(func.count()).select_from(Campaign)) or 0
    key = stored_sdk_key(db)
    return WorkspaceSummary(
        location=db.engine.url.render_as_string(hide_password=True),
        backend=db.backend,
        users=users,
        devices_by_platform={str(k): int(v) for k, v in per_platform.items()},
        reachable_devices=reachable,
        events=events,
        campaigns=campaigns,
        sdk_key_hint=masked(key) if key else None,
    )
