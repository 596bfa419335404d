"""Push lifecycle events move their delivery forward: in any order, repeated, never backwards."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from core.persistence import Database
from core.persistence.models import Campaign, Delivery, DeliveryEvent, Device, User

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def delivery_id(db: Database) -> int:
    with db.transaction() as s:
        user = User(external_id="ana", attributes={}, first_seen=T0, last_seen=T0)
        campaign = Campaign(name="Spring sale", content={}, audience={}, settings={}, created_at=T0,
                            updated_at=T0)
        s.add_all([user, campaign])
        s.flush()
        device = Device(user_id=user.id, platform="android", provider="fcm", token="t",
                        registered_at=T0, last_registered_at=T0)
        s.add(device)
        s.flush()
        delivery = Delivery(campaign_id=campaign.id, device_id=device.id, provider="fcm", state="sent",
                            queued_at=T0, sent_at=T0)
        s.add(delivery)
        s.flush()
        created = delivery.id
    return created


def report(api: httpx.Client, delivery: int, *steps: tuple[str, int]) -> dict[str, object]:
    events = [{"id": f"{name}-{delivery}-{sec}", "user": "ana", "name": name,
               "at": f"2026-03-01T12:00:{sec:02d}Z", "properties": {"delivery_id": delivery, "button": "buy"}}
              for name, sec in steps]
    return api.post("/sdk/v1/events", json={"events": events}).json()  # type: ignore[no-any-return]


def state(db: Database, delivery: int) -> Delivery:
    with db.transaction() as s:
        row = s.get(Delivery, delivery)
        assert row is not None
        return row


def test_reports_advance_the_delivery_and_keep_each_time(api: httpx.Client, db: Database, delivery_id: int) -> None:
    report(api, delivery_id, ("push_delivered", 1), ("push_displayed", 2))
    report(api, delivery_id, ("push_clicked", 9))
    row = state(db, delivery_id)
    assert row.state == "clicked"
    assert (row.delivered_at, row.displayed_at, row.clicked_at) == (
        T0.replace(second=1), T0.replace(second=2), T0.replace(second=9))
    with db.transaction() as s:
        kinds = s.scalars(select(DeliveryEvent.kind).order_by(DeliveryEvent.at)).all()
    assert kinds == ["push_delivered", "push_displayed", "push_clicked"]


def test_out_of_order_and_repeated_reports_never_move_back(
    api: httpx.Client, db: Database, delivery_id: int
) -> None:
    report(api, delivery_id, ("push_clicked", 9))
    report(api, delivery_id, ("push_delivered", 1), ("push_displayed", 2))
    again = report(api, delivery_id, ("push_delivered", 1))
    assert again["duplicates"] == 1
    row = state(db, delivery_id)
    assert row.state == "clicked"
    assert row.delivered_at == T0.replace(second=1)
    with db.transaction() as s:
        assert len(s.scalars(select(DeliveryEvent)).all()) == 3


def test_the_earliest_ending_wins_even_when_reported_late(
    api: httpx.Client, db: Database, delivery_id: int
) -> None:
    report(api, delivery_id, ("push_recalled", 20))
    report(api, delivery_id, ("push_dismissed", 12))
    assert state(db, delivery_id).state == "dismissed"


def test_a_report_for_an_unknown_delivery_is_rejected(api: httpx.Client, db: Database, delivery_id: int) -> None:
    r = report(api, delivery_id + 999, ("push_delivered", 1))
    assert r["accepted"] == 0
    assert r["rejected"][0]["field"] == "properties.delivery_id"  # type: ignore[index]
