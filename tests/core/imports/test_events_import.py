"""Importing events: columns to SDK events, derived ids, rejects mapped to lines, duplicates on re-import."""

from __future__ import annotations

import codecs
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.errors import ImportFileError
from core.imports.events import import_events, infer_property
from core.persistence import Database
from core.persistence.models import Event, User


def write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def events(db: Database) -> list[Event]:
    with db.transaction() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def reject_reasons(path: Path) -> dict[int, str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {int(r["line"]): r["reason"] for r in csv.DictReader(handle)}


def test_rows_become_events_with_typed_properties(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, (
        "id,user,name,at,revenue,properties,prop.sku,prop.qty,prop.price,prop.gift,prop.zip\n"
        'e1,u1,purchase,2026-01-31T09:30:00+03:00,19.99,"{""plan"": ""pro"", ""sku"": ""old""}",'
        "A-1,2,9.5,true,02134\n"
        "e2,u2,app_open,2026-01-31 10:00,,,,,,,\n"
    ))
    result = import_events(db, path)
    assert (result.rows, result.imported, result.duplicates, result.rejected) == (2, 2, 0, 0)
    first, second = events(db)
    assert first.event_id == "e1" and first.name == "purchase" and first.revenue == 19.99
    assert first.occurred_at == datetime(2026, 1, 31, 6, 30, tzinfo=UTC)
    assert first.properties == {"plan": "pro", "sku": "A-1", "qty": 2, "price": 9.5, "gift": True, "zip": "02134"}
    # A time without a zone is read as UTC.
    assert second.occurred_at == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    assert second.properties == {} and second.revenue is None
    with db.transaction() as session:
        assert set(session.scalars(select(User.external_id))) == {"u1", "u2"}


def test_file_without_ids_counts_as_duplicates_when_imported_again(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, (
        "user,name,at\n"
        "u1,app_open,2026-01-31T09:00:00Z\n"
        "u1,app_open,2026-01-31T09:00:00Z\n"
        "u2,app_open,2026-01-31T09:00:00Z\n"
    ))
    first = import_events(db, path)
    # Two identical rows are two events: nothing in the file says they are the same one.
    assert (first.imported, first.duplicates) == (3, 0)
    again = import_events(db, path)
    assert (again.imported, again.duplicates, again.rejected) == (0, 3, 0)
    # A row added at the top does not change the ids of the rows below it.
    path.write_text(path.read_text().replace("user,name,at\n", "user,name,at\nu3,signup,2026-01-30T00:00:00Z\n"))
    third = import_events(db, path)
    assert (third.imported, third.duplicates) == (1, 3)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 4


def test_bad_rows_are_rejected_with_their_lines_across_batches(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, (
        "user,name,at,revenue,properties\n"
        "u1,open,2026-01-31T09:00:00Z,,\n"         # 2 good
        "u1,open,not a time,,\n"                   # 3 bad time (ingest)
        "u1,open\n"                                # 4 wrong field count
        "u1,buy,2026-01-31T09:00:00Z,ten,\n"       # 5 bad revenue
        'u1,buy,2026-01-31T09:00:00Z,,"[1,2]"\n'   # 6 properties not an object
        'u1,buy,2026-01-31T09:00:00Z,,"{oops"\n'   # 7 broken JSON
        ",open,2026-01-31T09:00:00Z,,\n"           # 8 no user (ingest)
        "u2,1bad name,2026-01-31T09:00:00Z,,\n"    # 9 bad name (ingest)
        "u2,open,2026-01-31T10:00:00Z,5,\n"        # 10 good
    ))
    result = import_events(db, path, batch_size=2)
    assert (result.rows, result.imported, result.rejected) == (9, 2, 7)
    reasons = reject_reasons(tmp_path / "events.rejects.csv")
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "at is not an ISO 8601 time" in reasons[3]
    assert "2 fields but the header has 5" in reasons[4]
    assert "revenue 'ten' is not a number" in reasons[5]
    assert "properties is not a JSON object" in reasons[6] and "properties is not a JSON object" in reasons[7]
    assert "user is required" in reasons[8]
    assert "name must start with a letter" in reasons[9]
    assert [line for line, _ in result.first_rejects] == [3, 4, 5, 6, 7]
    assert [e.revenue for e in events(db)] == [None, 5.0]


def test_bom_and_semicolon_file(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"id;user;name;at;revenue\r\ne1;u1;buy;2026-01-31T09:00:00Z;1.5\r\n")
    result = import_events(db, path)
    assert (result.imported, result.rejected) == (1, 0)
    assert events(db)[0].revenue == 1.5


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("user,name,at,platform", "does not know the column 'platform'"),
        ("user,name", "no at column"),
        ("user,name,at,prop.a,prop. a", "property 'a' appears twice"),
    ],
)
def test_unusable_header_fails_before_importing(sqlite_db: Database, tmp_path: Path, header: str,
                                                expected: str) -> None:
    path = write(tmp_path, header + "\nu1,open,2026-01-31T09:00:00Z,x,y\n")
    with pytest.raises(ImportFileError, match=expected):
        import_events(sqlite_db, path)
    assert events(sqlite_db) == []


def test_property_cells_are_typed_per_cell() -> None:
    assert infer_property("3") == 3
    assert infer_property("-0.25") == -0.25
    assert infer_property("TRUE") is True
    assert infer_property("007") == "007"
    assert infer_property("1e999") == "1e999"
    assert infer_property("yes") == "yes"
