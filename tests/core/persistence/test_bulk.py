"""The driver-level fast path writes exactly what the ORM would: rows read back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.persistence import Database
from core.persistence.bulk import DriverValues, insert_returning
from core.persistence.models import User

instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def test_fast_inserts_read_back_through_the_orm(db: Database) -> None:
    values = DriverValues(db.backend)
    at = datetime(2026, 3, 1, 15, 0, 0, 123456, tzinfo=timezone(timedelta(hours=3)))
    with db.transaction() as s:
        rows = insert_returning(
            s, "users", ("external_id", "attributes", "marketing_consent", "first_seen", "last_seen"),
            [("ana", values.json({"tier": "gold"}), True, values.instant(at), values.instant(at))],
            "(external_id) DO NOTHING", "external_id, id",
        )
    assert [r[0] for r in rows] == ["ana"]
    with db.transaction() as s:
        user = s.scalars(select(User)).one()
    assert user.first_seen == at and user.attributes == {"tier": "gold"} and user.marketing_consent is True


@settings(max_examples=200, deadline=None)
@given(a=instants, b=instants)
def test_sqlite_text_instants_sort_like_the_instants(a: datetime, b: datetime) -> None:
    values = DriverValues("sqlite")
    assert (values.instant(a) < values.instant(b)) == (a < b)


def test_instants_match_what_sqlalchemy_stores(sqlite_db: Database) -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    with sqlite_db.transaction() as s:
        s.add(User(external_id="u", attributes={}, first_seen=at, last_seen=at))
    with sqlite_db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT first_seen FROM users").scalar()
    assert stored == DriverValues("sqlite").instant(at)
