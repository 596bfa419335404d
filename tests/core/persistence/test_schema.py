"""The workspace schema: migrations match the models, and the database enforces what it promises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.persistence import Database, open_database
from core.persistence.database import current_revision, head_revision
from core.persistence.models import AuditEntry, Base, Device, User

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_migrations_produce_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"
    assert current_revision(db.engine) == head_revision()


def test_opening_twice_is_harmless_and_keeps_data(db_url: str) -> None:
    first = open_database(db_url)
    with first.transaction() as s:
        s.add(User(external_id="u1", attributes={}, first_seen=NOW, last_seen=NOW))
    first.dispose()
    second = open_database(db_url)
    with second.transaction() as s:
        assert s.scalar(select(User.external_id)) == "u1"
    second.dispose()


def test_datetimes_come_back_as_the_same_utc_instant(db: Database) -> None:
    from datetime import timedelta, timezone

    istanbul = datetime(2026, 3, 1, 15, 0, tzinfo=timezone(timedelta(hours=3)))
    with db.transaction() as s:
        s.add(User(external_id="u1", attributes={"n": 1}, first_seen=istanbul, last_seen=istanbul))
    with db.transaction() as s:
        user = s.scalars(select(User)).one()
    assert user.first_seen == NOW
    assert user.first_seen.tzinfo is UTC
    assert user.attributes == {"n": 1}


def test_a_token_is_unique_per_provider(db: Database) -> None:
    with db.transaction() as s:
        user = User(external_id="u1", attributes={}, first_seen=NOW, last_seen=NOW)
        s.add(user)
        s.flush()
        s.add(Device(user_id=user.id, platform="android", provider="fcm", token="t",
                     registered_at=NOW, last_registered_at=NOW))
    with pytest.raises(IntegrityError), db.transaction() as s:
        uid = s.scalar(select(User.id))
        s.add(Device(user_id=uid, platform="android", provider="fcm", token="t",
                     registered_at=NOW, last_registered_at=NOW))


def test_the_audit_log_is_append_only(db: Database) -> None:
    with db.transaction() as s:
        s.add(AuditEntry(at=NOW, actor="ana", action="campaign.send", subject_type="campaign",
                         subject_id="1", detail={}))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as s:
        s.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as s:
        s.execute(text("DELETE FROM audit_log"))
    with db.transaction() as s:
        assert s.scalar(select(AuditEntry.actor)) == "ana"


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
