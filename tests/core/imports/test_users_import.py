"""Importing users: typed and inferred attributes, built-in fields, rejects, and idempotent re-imports."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import ManualClock
from core.domain.enums import AttributeType
from core.errors import ImportFileError
from core.imports.users import import_users
from core.persistence import Database
from core.persistence.models import AttributeDefinition, User

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def users(db: Database) -> dict[str, User]:
    with db.transaction() as session:
        return {u.external_id: u for u in session.scalars(select(User))}


def definitions(db: Database) -> dict[str, str]:
    with db.transaction() as session:
        rows = session.execute(select(AttributeDefinition.name, AttributeDefinition.type)).all()
        return {name: kind for name, kind in rows}


def rejects_of(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_typed_headers_and_inference_store_typed_values(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, (
        "external_id,age,score:string,vip,signed_up,zip,nickname,note,flag:boolean\n"
        "u1,31,10,yes,2024-01-05,02134,Ace,,1\n"
        "u2,40.5,7,no,2024-01-06T10:00:00+02:00,10001,7,,false\n"
    ))
    result = import_users(db, path, clock=ManualClock(T0))
    assert (result.imported, result.updated, result.rejected, result.rejects_path) == (2, 0, 0, None)
    assert definitions(db) == {
        "age": "number", "score": "string", "vip": "boolean", "signed_up": "datetime", "zip": "string",
        "nickname": "string", "flag": "boolean",
    }
    assert any("'note' has no values" in w for w in result.warnings)
    stored = users(db)
    assert stored["u1"].attributes == {
        "age": 31, "score": "10", "vip": True, "signed_up": "2024-01-05T00:00:00+00:00", "zip": "02134",
        "nickname": "Ace", "flag": True,
    }
    assert stored["u2"].attributes["age"] == 40.5
    assert stored["u2"].attributes["signed_up"] == "2024-01-06T08:00:00+00:00"
    assert stored["u2"].attributes["flag"] is False


def test_known_attribute_keeps_its_type_and_bad_values_reject_their_row(db: Database, tmp_path: Path) -> None:
    import_users(db, write(tmp_path, "external_id,age\nu1,31\n"))
    path = write(tmp_path, "external_id,age:string,plan\nu2,old,free\nu3,44,pro\n", "second.csv")
    result = import_users(db, path)
    assert (result.imported, result.rejected) == (1, 1)
    assert any("already a number" in w and "not string" in w for w in result.warnings)
    assert definitions(db)["age"] == "number"
    [reject] = rejects_of(tmp_path / "second.rejects.csv")
    assert reject["line"] == "2"
    assert "column 'age:string'" in reject["reason"] and "'old' is not a number" in reject["reason"]
    assert reject["external_id"] == "u2" and reject["plan"] == "free"
    assert users(db)["u3"].attributes == {"age": 44, "plan": "pro"}
    assert "u2" not in users(db)


def test_malformed_rows_go_to_rejects_with_their_lines_while_good_rows_go_in(
    db: Database, tmp_path: Path
) -> None:
    path = write(tmp_path, (
        "external_id,age:number,first_seen,timezone,latitude,longitude\n"
        "good1,1,2026-01-01T00:00:00Z,Europe/Istanbul,41,29\n"   # line 2
        "short,2\n"                                              # line 3: too few fields
        'multi,"3",2026-01-01,"Europe/\nBerlin",,\n'             # lines 4-5: bad zone across two lines
        "baddate,4,yesterday,,,\n"                               # line 6
        "badnum,four,,,,\n"                                      # line 7
        ",5,,,,\n"                                               # line 8: no external id
        "badloc,6,,,91,\n"                                       # line 9
        "good2,7,,,,\n"                                          # line 10
    ))
    rejects_path = tmp_path / "out" / "bad.csv"
    rejects_path.parent.mkdir()
    result = import_users(db, path, rejects_path=rejects_path)
    assert (result.rows, result.imported, result.rejected) == (8, 2, 6)
    assert result.rejects_path == rejects_path
    rows = rejects_of(rejects_path)
    reasons = {int(r["line"]): r["reason"] for r in rows}
    assert sorted(reasons) == [3, 4, 6, 7, 8, 9]
    assert "2 fields but the header has 6" in reasons[3]
    assert "timezone 'Europe/\\nBerlin' is not an IANA zone" in reasons[4]
    assert "first_seen 'yesterday' is not an ISO 8601 time" in reasons[6]
    assert "column 'age:number': 'four' is not a number" in reasons[7]
    assert "external_id is empty" in reasons[8]
    assert "latitude and longitude go together" in reasons[9]
    assert rows[0]["external_id"] == "short" and rows[0]["age:number"] == "2"
    assert set(users(db)) == {"good1", "good2"}
    assert result.first_rejects[0] == (3, reasons[3])


def test_reimport_updates_instead_of_duplicating_and_merges_attributes(db: Database, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    first = write(tmp_path, "external_id,plan,age,marketing_consent\nu1,pro,30,yes\nu2,free,25,no\n")
    import_users(db, first, clock=clock)
    clock.advance(3600)
    again = import_users(db, first, clock=clock)
    assert (again.imported, again.updated, again.rejected) == (0, 2, 0)
    # Consent that did not change keeps the time it was first recorded.
    assert users(db)["u1"].consent_at == T0

    clock.advance(3600)
    second = write(tmp_path, "external_id,plan,city,marketing_consent\nu1,,Izmir,no\nu3,trial,Ankara,\n", "b.csv")
    result = import_users(db, second, clock=clock)
    assert (result.imported, result.updated) == (1, 1)
    stored = users(db)
    assert len(stored) == 3
    assert stored["u1"].attributes == {"plan": "pro", "age": 30, "city": "Izmir"}
    assert stored["u1"].marketing_consent is False
    assert stored["u1"].consent_at == clock.now() and stored["u1"].consent_source == "csv import"
    assert stored["u2"].attributes == {"plan": "free", "age": 25}
    assert stored["u3"].marketing_consent is True and stored["u3"].consent_at is None
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 3


def test_builtin_fields_fill_the_user(db: Database, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    path = write(tmp_path, (
        "external_id,locale,timezone,latitude,longitude,first_seen,last_seen\n"
        "u1,tr-TR,Europe/Istanbul,41.01,28.97,2025-01-01T00:00:00Z,2025-06-01T00:00:00Z\n"
        "u2,xx_not a locale,,,,,\n"
        "u3,,,,,2025-02-01T00:00:00Z,2025-01-01T00:00:00Z\n"
    ))
    result = import_users(db, path, clock=clock)
    assert result.rejected == 2
    user = users(db)["u1"]
    assert (user.locale, user.timezone, user.latitude, user.longitude) == ("tr-TR", "Europe/Istanbul", 41.01, 28.97)
    assert user.location_at == T0
    assert user.first_seen == datetime(2025, 1, 1, tzinfo=UTC)
    assert user.last_seen == datetime(2025, 6, 1, tzinfo=UTC)
    reasons = [r["reason"] for r in rejects_of(tmp_path / "users.rejects.csv")]
    assert "is not a language tag" in reasons[0] and "first_seen is later than last_seen" in reasons[1]

    # Seen times only widen: a later file cannot make the user newer than Herald knows.
    import_users(db, write(tmp_path, "external_id,first_seen,last_seen\nu1,2025-03-01,2025-03-02\n", "c.csv"))
    user = users(db)["u1"]
    assert user.first_seen == datetime(2025, 1, 1, tzinfo=UTC)
    assert user.last_seen == datetime(2025, 6, 1, tzinfo=UTC)


def test_repeated_user_within_and_across_chunks_is_one_user_with_the_latest_values(
    db: Database, tmp_path: Path
) -> None:
    path = write(tmp_path, "external_id,plan\nu1,free\nu2,free\nu1,pro\nu3,x\nu1,team\n")
    result = import_users(db, path, chunk_rows=2)
    assert (result.imported, result.updated) == (3, 2)
    assert users(db)["u1"].attributes == {"plan": "team"}


def test_large_file_in_chunks_counts_every_row(db: Database, tmp_path: Path) -> None:
    lines = ["external_id,n,group"] + [f"u{i},{i},g{i % 7}" for i in range(2500)]
    result = import_users(db, write(tmp_path, "\n".join(lines) + "\n"), chunk_rows=1000)
    assert (result.rows, result.imported) == (2500, 2500)
    assert users(db)["u2499"].attributes == {"n": 2499, "group": "g0"}
    assert result.attribute_types == {"n": AttributeType.NUMBER, "group": AttributeType.STRING}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("external_id,first name", "'first name' is not a valid attribute name"),
        ("external_id,age:integer", "unknown type 'integer'"),
        ("external_id,locale:string", "locale is a built-in user field and takes no type"),
        ("external_id,age,age:number", "attribute 'age' already comes from column 'age'"),
        ("external_id,latitude", "has latitude but no longitude"),
        ("user_id,plan", "no external_id column"),
        ("external_id," + "a" * 65, "is not a valid attribute name"),
    ],
)
def test_unusable_header_stops_the_import_before_anything_is_written(
    sqlite_db: Database, tmp_path: Path, header: str, expected: str
) -> None:
    path = write(tmp_path, header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(ImportFileError, match=expected.replace("(", r"\(")):
        import_users(sqlite_db, path)
    assert users(sqlite_db) == {} and definitions(sqlite_db) == {}


def test_stale_rejects_file_is_emptied_when_nothing_is_rejected(sqlite_db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "external_id,plan\n,pro\n")
    assert import_users(sqlite_db, path).rejected == 1
    path.write_text("external_id,plan\nu1,pro\n", encoding="utf-8")
    result = import_users(sqlite_db, path)
    assert (result.rejected, result.rejects_path) == (0, None)
    assert rejects_of(tmp_path / "users.rejects.csv") == []


def test_rejects_path_may_not_be_the_input(sqlite_db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "external_id\nu1\n")
    with pytest.raises(ImportFileError, match="is the file being imported"):
        import_users(sqlite_db, path, rejects_path=path)
