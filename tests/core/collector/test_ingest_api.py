"""The SDK ingest API over real HTTP: keys, limits, idempotency, partial batches, auto-created users."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from core.persistence import Database
from core.persistence.models import Event, User


def event(i: int, user: str = "u1", name: str = "view", **extra: object) -> dict[str, object]:
    return {"id": f"e{i}", "user": user, "name": name, "at": f"2026-03-01T12:00:{i % 60:02d}Z",
            "properties": {"i": i}, **extra}


def count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_health_needs_no_key(api: httpx.Client) -> None:
    r = httpx.get(str(api.base_url.join("/sdk/v1/health")))
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_wrong_or_missing_key_is_refused_and_stores_nothing(api: httpx.Client, db: Database) -> None:
    body = {"events": [event(1)]}
    assert api.post("/sdk/v1/events", json=body, headers={"X-Herald-Key": "nope"}).status_code == 401
    bare = httpx.post(str(api.base_url.join("/sdk/v1/events")), json=body)
    assert bare.status_code == 401
    assert "X-Herald-Key" in bare.json()["error"]
    assert count(db, Event) == 0


def test_resending_a_batch_counts_duplicates_never_second_rows(api: httpx.Client, db: Database) -> None:
    batch = {"events": [event(i) for i in range(50)]}
    first = api.post("/sdk/v1/events", json=batch).json()
    again = api.post("/sdk/v1/events", json=batch).json()
    assert first == {"accepted": 50, "duplicates": 0, "rejected": []}
    assert again == {"accepted": 0, "duplicates": 50, "rejected": []}
    assert count(db, Event) == 50


def test_a_repeated_id_inside_one_batch_is_a_duplicate(api: httpx.Client, db: Database) -> None:
    r = api.post("/sdk/v1/events", json={"events": [event(1), event(1), event(2)]}).json()
    assert (r["accepted"], r["duplicates"]) == (2, 1)
    assert count(db, Event) == 2


def test_mixed_batch_stores_the_good_and_names_each_bad_field(api: httpx.Client, db: Database) -> None:
    batch = [
        event(0),
        {"id": "x1", "user": "u1", "name": "view"},  # no time
        event(2, revenue="ten"),
        {"id": "x3", "user": "", "name": "view", "at": "2026-03-01T12:00:00Z"},
        event(4, name="purchase", revenue=19.9),
        {"id": "x5", "user": "u1", "name": "view", "at": "2026-03-01T12:00:00"},  # naive time
        "not an object",
        event(7, name="push_clicked"),  # lifecycle event without a delivery id
    ]
    r = api.post("/sdk/v1/events", json={"events": batch})
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    fields = {rej["index"]: rej.get("field") for rej in body["rejected"]}
    assert fields == {1: "at", 2: "revenue", 3: "user", 5: "at", 6: None, 7: "properties.delivery_id"}
    assert all(rej["error"] for rej in body["rejected"])
    with db.transaction() as s:
        stored = dict(s.execute(select(Event.event_id, Event.revenue)).all())
    assert stored == {"e0": None, "e4": 19.9}


def test_unknown_users_are_created_with_first_and_last_seen(api: httpx.Client, db: Database) -> None:
    batch = [event(5, user="new-1"), event(1, user="new-1"), event(9, user="new-2")]
    assert api.post("/sdk/v1/events", json={"events": batch}).json()["accepted"] == 3
    api.post("/sdk/v1/events", json={"events": [event(30, user="new-1"), event(0, user="new-1")]})
    with db.transaction() as s:
        users = {u.external_id: u for u in s.scalars(select(User))}
    assert set(users) == {"new-1", "new-2"}
    assert users["new-1"].first_seen == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert users["new-1"].last_seen == datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def test_a_body_over_the_limit_gets_413(api: httpx.Client, db: Database) -> None:
    big = {"events": [event(i, note="x" * 2000) for i in range(40)]}  # ~80 KiB > 64 KiB
    r = api.post("/sdk/v1/events", json=big)
    assert r.status_code == 413
    assert "larger than" in r.json()["error"]
    assert count(db, Event) == 0


def test_a_batch_over_1000_events_gets_413_naming_the_limit(api: httpx.Client) -> None:
    batch = [{"id": str(i), "user": "u", "name": "v", "at": "2026-03-01T12:00:00Z"} for i in range(1001)]
    r = api.post("/sdk/v1/events", json={"events": batch})
    assert r.status_code == 413
    assert "1000" in r.json()["error"] and r.json()["field"] == "events"


def test_bad_json_and_bad_shape_are_client_errors(api: httpx.Client) -> None:
    r = api.post("/sdk/v1/events", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = api.post("/sdk/v1/events", json={"evts": []})
    assert r.status_code == 422 and r.json()["field"] == "events"
