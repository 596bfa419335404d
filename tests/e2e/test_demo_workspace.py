"""The demo workspace: a seeded population lands in Herald with attributes, devices and history — once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from core.collector.server import BackgroundIngestServer, build_ingest_app
from core.imports.users import import_users
from core.persistence import Database
from core.persistence.models import Device, Event, User
from simulator.demo import DemoResult, build_demo

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_the_demo_fills_the_workspace_and_a_rerun_adds_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    app = build_ingest_app(sqlite_db)
    server = BackgroundIngestServer(app)
    url = server.start().url
    stages: list[str] = []
    try:
        def run() -> DemoResult:
            return build_demo(tmp_path / "sim", url, app.sdk_key, users=40, seed=9, now=NOW,
                              import_users_csv=lambda p: import_users(sqlite_db, p),
                              progress=lambda stage, done, total: stages.append(stage))

        first = run()
        users, devices, events = count(sqlite_db, User), count(sqlite_db, Device), count(sqlite_db, Event)
        again = run()
    finally:
        server.stop()
    assert users == 40 and devices == first.devices >= 40
    assert events == first.history.accepted > 40 * 10
    assert {"devices", "users", "registrations", "history"} <= set(stages)
    assert (count(sqlite_db, User), count(sqlite_db, Device), count(sqlite_db, Event)) == (users, devices, events)
    assert again.history.accepted == 0 and again.history.duplicates == events
    with sqlite_db.transaction() as s:
        user = s.scalars(select(User).order_by(User.id)).first()
        assert user is not None
        assert {"first_name", "city", "plan"} <= set(user.attributes)
        assert user.first_seen < user.last_seen
        web = s.scalars(select(Device).where(Device.provider == "webpush")).first()
        assert web is not None and web.subscription is not None
