"""The outbox as a leased queue, on SQLite and PostgreSQL: enqueue, claim, lease expiry, record, fences."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.domain import DeliveryKind, Provider
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Device, User
from core.sending.outbox import Deferred, DeliveryOutbox, Failed, RetryLater, Sent, TokenDead
from tests.core.sending.conftest import T0, add_campaign, add_devices


def rows(db: Database, campaign_id: int) -> dict[int, Delivery]:
    with db.transaction() as s:
        found = s.scalars(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
        return {d.device_id: d for d in found}


def states(db: Database, campaign_id: int) -> list[str]:
    return sorted(d.state for d in rows(db, campaign_id).values())


@pytest.fixture
def outbox(db: Database) -> DeliveryOutbox:
    return DeliveryOutbox(db)


def sending(db: Database, **kw: object) -> int:
    return add_campaign(db, state="sending", **kw)  # type: ignore[arg-type]


def test_enqueue_writes_one_row_per_device_and_a_rerun_changes_nothing(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    devices = add_devices(db, 6, [Provider.FCM, Provider.APNS, Provider.WEBPUSH])
    assert outbox.enqueue(campaign, devices, None, now=T0) == 6
    first = rows(db, campaign)
    assert {d.provider for d in first.values()} == {"fcm", "apns", "webpush"}
    assert all(d.state == "queued" and d.attempts == 0 and d.queued_at == T0 for d in first.values())
    outbox.claim_batch(Provider.FCM, 10, "w1", 60, T0)
    assert outbox.enqueue(campaign, devices, None, now=T0 + timedelta(hours=1)) == 0
    again = rows(db, campaign)
    assert {k: (v.id, v.queued_at) for k, v in again.items()} == {k: (v.id, v.queued_at) for k, v in first.items()}
    assert sorted(d.state for d in again.values()) == ["claimed", "claimed", "queued", "queued", "queued", "queued"]
    # A recall is a different kind: a second row per device is allowed.
    assert outbox.enqueue(campaign, devices[:2], None, DeliveryKind.RECALL, now=T0) == 2


def test_enqueue_records_each_devices_variant(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    devices = add_devices(db, 4)
    with db.transaction() as s:
        variant = s.scalars(select(Campaign).where(Campaign.id == campaign)).one().variants[0].id
    outbox.enqueue(campaign, devices, {devices[0]: variant, devices[1]: variant}, now=T0)
    got = rows(db, campaign)
    assert [got[d].variant_id for d in devices] == [variant, variant, None, None]


def test_claim_takes_due_rows_of_one_provider_under_a_lease(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    devices = add_devices(db, 10, [Provider.FCM, Provider.APNS])
    outbox.enqueue(campaign, devices, None, now=T0)
    first = outbox.claim_batch(Provider.FCM, 3, "w1", 60, T0)
    assert len(first.deliveries) == 3 and all(d.provider is Provider.FCM for d in first.deliveries)
    assert all(d.attempts == 1 and d.token.startswith("tok-") for d in first.deliveries)
    rest = outbox.claim_batch(Provider.FCM, 10, "w2", 60, T0)
    assert len(rest.deliveries) == 2
    assert not {d.id for d in first.deliveries} & {d.id for d in rest.deliveries}
    assert outbox.claim_batch(Provider.FCM, 10, "w3", 60, T0 + timedelta(seconds=59)).deliveries == []
    row = rows(db, campaign)[first.deliveries[0].device_id]
    assert (row.state, row.lease_owner, row.lease_until) == ("claimed", "w1", T0 + timedelta(seconds=60))


def test_a_dead_workers_rows_come_back_when_the_lease_runs_out(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    outbox.enqueue(campaign, add_devices(db, 4), None, now=T0)
    dead = outbox.claim_batch(Provider.FCM, 4, "dead", 30, T0)
    assert len(dead.deliveries) == 4
    assert outbox.claim_batch(Provider.FCM, 10, "alive", 30, T0 + timedelta(seconds=29)).deliveries == []
    back = outbox.claim_batch(Provider.FCM, 10, "alive", 30, T0 + timedelta(seconds=30))
    assert sorted(d.id for d in back.deliveries) == sorted(d.id for d in dead.deliveries)
    assert all(d.attempts == 2 for d in back.deliveries)
    # The dead worker's late answers are fenced out; the new owner's count.
    late = outbox.record([Sent(d.id, "late") for d in dead.deliveries], "dead", T0 + timedelta(seconds=31))
    assert late.ignored == 4
    ok = outbox.record([Sent(d.id, "m") for d in back.deliveries], "alive", T0 + timedelta(seconds=31))
    assert ok.applied == {"sent": 4} and states(db, campaign) == ["sent"] * 4


def test_retry_wait_rows_are_claimed_only_when_due(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    outbox.enqueue(campaign, add_devices(db, 2), None, now=T0)
    claimed = outbox.claim_batch(Provider.FCM, 2, "w", 60, T0).deliveries
    due = T0 + timedelta(seconds=10)
    outbox.record([RetryLater(claimed[0].id, due, "transient", "503", extra_attempts=2),
                   Deferred(claimed[1].id, due, "device_rate")], "w", T0)
    by_id = {d.id: d for d in rows(db, campaign).values()}
    assert (by_id[claimed[0].id].state, by_id[claimed[0].id].attempts, by_id[claimed[0].id].error_class) == (
        "retry_wait", 3, "transient")
    assert (by_id[claimed[1].id].attempts, by_id[claimed[1].id].next_attempt_at) == (0, due)
    assert outbox.claim_batch(Provider.FCM, 5, "w", 60, due - timedelta(microseconds=1)).deliveries == []
    again = outbox.claim_batch(Provider.FCM, 5, "w", 60, due).deliveries
    assert sorted((d.id, d.attempts) for d in again) == sorted([(claimed[0].id, 4), (claimed[1].id, 1)])


def test_paused_and_cancelled_campaigns_are_not_claimed(db: Database, outbox: DeliveryOutbox) -> None:
    paused = add_campaign(db, name="p", state="paused")
    cancelled = add_campaign(db, name="c", state="cancelled")
    devices = add_devices(db, 3)
    outbox.enqueue(paused, devices, None, now=T0)
    outbox.enqueue(cancelled, devices, None, now=T0)
    assert outbox.claim_batch(Provider.FCM, 10, "w", 60, T0).deliveries == []
    assert outbox.cancel_pending(cancelled, T0) == 3
    assert states(db, cancelled) == ["cancelled"] * 3 and states(db, paused) == ["queued"] * 3


def test_claim_suppresses_opted_out_users_and_invalid_devices(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    devices = add_devices(db, 5)
    outbox.enqueue(campaign, devices, None, now=T0)
    with db.transaction() as s:
        opted_out = s.get(Device, devices[0])
        assert opted_out is not None
        s.execute(update(User).where(User.id == opted_out.user_id).values(marketing_consent=False))
        s.execute(update(Device).where(Device.id == devices[1]).values(invalidated_at=T0, invalid_reason="x"))
        s.execute(update(Device).where(Device.id == devices[2]).values(push_enabled=False))
    result = outbox.claim_batch(Provider.FCM, 10, "w", 60, T0)
    assert sorted(d.device_id for d in result.deliveries) == devices[3:]
    assert result.suppressed == {"no_consent": 1, "device_invalid": 1, "push_disabled": 1}
    got = rows(db, campaign)
    assert [(got[d].state, got[d].error_class, got[d].attempts) for d in devices[:3]] == [
        ("suppressed", "no_consent", 0), ("suppressed", "device_invalid", 0), ("suppressed", "push_disabled", 0)]
    assert got[devices[0]].lease_owner is None


def test_recording_outcomes_and_token_invalidation(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    devices = add_devices(db, 4)
    outbox.enqueue(campaign, devices, None, now=T0)
    c = {d.device_id: d for d in outbox.claim_batch(Provider.FCM, 4, "w", 60, T0).deliveries}
    since = T0 + timedelta(milliseconds=500)  # the provider's time: after the registration
    result = outbox.record([
        Sent(c[devices[0]].id, "projects/p/messages/1", sdk_retries=2),
        Failed(c[devices[1]].id, "payload_rejected", "too big"),
        TokenDead(c[devices[2]].id, devices[2], since, "UNREGISTERED", "gone"),
        TokenDead(c[devices[3]].id, devices[3], None, "BadDeviceToken"),
    ], "w", T0 + timedelta(seconds=1))
    assert result.applied == {"sent": 1, "failed": 1, "token_invalid": 2, "device_invalidated": 2}
    got = rows(db, campaign)
    assert (got[devices[0]].state, got[devices[0]].provider_message_id, got[devices[0]].attempts,
            got[devices[0]].sent_at) == ("sent", "projects/p/messages/1", 3, T0 + timedelta(seconds=1))
    assert (got[devices[1]].state, got[devices[1]].error_class) == ("failed", "payload_rejected")
    assert got[devices[2]].state == got[devices[3]].state == "token_invalid"
    assert (got[devices[2]].error_class, got[devices[2]].error_detail) == ("token_invalid", "UNREGISTERED: gone")
    with db.transaction() as s:
        d2, d3 = s.get(Device, devices[2]), s.get(Device, devices[3])
        assert d2 is not None and d3 is not None
        assert (d2.invalidated_at, d2.invalid_reason) == (since, "UNREGISTERED")
        assert (d3.invalidated_at, d3.invalid_reason) == (T0 + timedelta(seconds=1), "BadDeviceToken")
    # Idempotent: recording the same answers again changes nothing.
    again = outbox.record([Sent(c[devices[0]].id, "other")], "w", T0 + timedelta(seconds=5))
    assert again.ignored == 1 and rows(db, campaign)[devices[0]].provider_message_id == "projects/p/messages/1"


def test_device_reports_are_never_overwritten_by_the_sender(db: Database, outbox: DeliveryOutbox) -> None:
    campaign = sending(db)
    devices = add_devices(db, 2)
    outbox.enqueue(campaign, devices, None, now=T0)
    claimed = outbox.claim_batch(Provider.FCM, 2, "w", 60, T0).deliveries
    # The devices report before the sender hears back (an earlier, ambiguous attempt arrived after all).
    with db.transaction() as s:
        s.execute(update(Delivery).where(Delivery.id == claimed[0].id).values(state="displayed", displayed_at=T0))
        s.execute(update(Delivery).where(Delivery.id == claimed[1].id).values(state="delivered", delivered_at=T0))
    later = T0 + timedelta(seconds=2)
    outbox.record([Sent(claimed[0].id, "m0"), RetryLater(claimed[1].id, later, "transient")], "w", later)
    by_id = {d.id: d for d in rows(db, campaign).values()}
    assert (by_id[claimed[0].id].state, by_id[claimed[0].id].sent_at, by_id[claimed[0].id].provider_message_id) == (
        "displayed", later, "m0")
    assert by_id[claimed[1].id].state == "delivered"
    assert outbox.claim_batch(Provider.FCM, 5, "w", 60, later + timedelta(hours=1)).deliveries == []


def test_concurrent_claimers_never_get_the_same_row(db: Database) -> None:
    campaign = sending(db)
    outbox_ = DeliveryOutbox(db)
    outbox_.enqueue(campaign, add_devices(db, 400), None, now=T0)
    got: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            mine = DeliveryOutbox(db)
            while batch := mine.claim_batch(Provider.FCM, 7, name, 60, T0).deliveries:
                got[name].extend(d.id for d in batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    claimed = [i for ids in got.values() for i in ids]
    assert len(claimed) == len(set(claimed)) == 400


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_claims_skip_rows_locked_by_an_open_claim(db: Database) -> None:
    campaign = sending(db)
    outbox = DeliveryOutbox(db)
    outbox.enqueue(campaign, add_devices(db, 10), None, now=T0)
    with db.transaction() as first_tx:  # a worker in the middle of its claim: its rows are locked
        first = outbox.claim_in(first_tx, Provider.FCM, 6, "w1", 60, T0).deliveries
        second = outbox.claim_batch(Provider.FCM, 10, "w2", 60, T0).deliveries  # another connection
        assert len(first) == 6 and len(second) == 4
        assert not {d.id for d in first} & {d.id for d in second}
    assert outbox.claim_batch(Provider.FCM, 10, "w3", 60, T0).deliveries == []
