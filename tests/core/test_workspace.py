"""The workspace overview counts what a person expects to see."""

from __future__ import annotations

from datetime import UTC, datetime

from core.collector.sdk_key import ensure_sdk_key
from core.persistence import Database
from core.persistence.models import Device, User
from core.workspace import summarize

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_an_empty_workspace_says_so(db: Database) -> None:
    summary = summarize(db)
    assert summary.is_empty and summary.devices == 0 and summary.sdk_key_hint is None


def test_counts_devices_per_platform_and_reachable_ones(db: Database) -> None:
    with db.transaction() as s:
        user = User(external_id="ana", attributes={}, first_seen=T0, last_seen=T0)
        s.add(user)
        s.flush()
        for i, (platform, provider, invalid) in enumerate(
            [("android", "fcm", False), ("android", "fcm", True), ("ios", "apns", False), ("web", "webpush", False)]
        ):
            s.add(Device(user_id=user.id, platform=platform, provider=provider, token=f"t{i}",
                         registered_at=T0, last_registered_at=T0, invalidated_at=T0 if invalid else None))
    key = ensure_sdk_key(db)
    summary = summarize(db)
    assert summary.devices_by_platform == {"android": 2, "ios": 1, "web": 1}
    assert summary.reachable_devices == 3 and summary.users == 1
    assert summary.sdk_key_hint is not None and key not in summary.sdk_key_hint
