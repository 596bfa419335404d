"""Writing what SDKs report into the workspace: device registrations and event batches.

A batch is applied in one transaction: every valid event is stored once (a repeated event id is counted as
a duplicate, never stored twice), every invalid one is listed with its index and reason, and push
lifecycle events move their delivery forward. Users named by an event or a registration are created when
they are new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import Clock, SystemClock
from core.collector.schemas import (
    MAX_EVENTS_PER_BATCH,
    IncomingEvent,
    parse_event,
    parse_registration,
)
from core.domain import DeliveryState
from core.errors import PayloadTooLarge, ValidationError
from core.persistence import Database
from core.persistence.bulk import DriverValues, insert_returning
from core.persistence.models import Delivery, DeliveryEvent, Device

_STATE_TIMESTAMP = {
    DeliveryState.DELIVERED: "delivered_at",
    DeliveryState.DISPLAYED: "displayed_at",
    DeliveryState.CLICKED: "clicked_at",
    DeliveryState.DISMISSED: "dismissed_at",
    DeliveryState.RECALLED: "recalled_at",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event of a batch that was not stored, and why."""

    index: int
    error: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rejection as the API reports it."""
        out: dict[str, Any] = {"index": self.index, "error": self.error}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to a batch: how many were stored, how many were repeats, which were refused."""

    accepted: int
    duplicates: int
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The answer body of ``POST /sdk/v1/events``."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }


@dataclass(frozen=True, slots=True)
class DeviceRegistered:
    """The outcome of a registration: which device and user, and whether it was new or revived."""

    device_id: int
    user_id: int
    created: bool
    revived: bool

    def as_dict(self) -> dict[str, Any]:
        """The answer body of ``POST /sdk/v1/devices``."""
        return {"device_id": self.device_id, "user_id": self.user_id, "created": self.created,
                "revived": self.revived}


class IngestService:
    """Stores SDK registrations and events; safe to call from one writer thread per database."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    def register_device(self, body: Any) -> DeviceRegistered:
        """Register or refresh a device; raises ValidationError naming the bad field."""
        reg = parse_registration(body)
        now = self._clock.now()
        with self._db.transaction() as session:
            user_id = self._user_ids(session, {reg.user: now}, locales={reg.user: (reg.locale, reg.timezone)})[
                reg.user
            ]
            device = session.scalars(
                select(Device).where(Device.provider == reg.provider.value, Device.token == reg.token)
            ).one_or_none()
            created = device is None
            revived = False
            if device is None:
                device = Device(
                    user_id=user_id, platform=reg.platform.value, provider=reg.provider.value, token=reg.token,
                    registered_at=now,
                )
                session.add(device)
            elif device.invalidated_at is not None and now > device.invalidated_at:
                revived = True
                device.invalidated_at = None
                device.invalid_reason = None
            device.user_id = user_id
            device.platform = reg.platform.value
            device.subscription = reg.subscription
            device.app_version = reg.app_version
            device.locale = reg.locale
            device.timezone = reg.timezone
            device.push_enabled = reg.push_enabled
            device.last_registered_at = now
            session.flush()
            return DeviceRegistered(device.id, user_id, created, revived)

    def ingest_events(self, batch: Any) -> IngestResult:
        """Store a batch of events (the ``events`` list of the API body)."""
        if not isinstance(batch, list):
            raise ValidationError("events must be a JSON array", "events")
        if len(batch) > MAX_EVENTS_PER_BATCH:
            raise PayloadTooLarge(
                f"a batch holds at most {MAX_EVENTS_PER_BATCH} events, this one has {len(batch)}; split it",
                limit=MAX_EVENTS_PER_BATCH, size=len(batch), field="events",
            )
        rejected: list[Rejection] = []
        valid: list[tuple[int, IncomingEvent]] = []
        for index, raw in enumerate(batch):
            try:
                valid.append((index, parse_event(raw)))
            except ValidationError as exc:
                rejected.append(Rejection(index, str(exc), exc.field))
        now = self._clock.now()
        with self._db.transaction() as session:
            valid = self._drop_unknown_deliveries(session, valid, rejected)
            unique, in_batch_repeats = _first_of_each_id(valid)
            if not unique:
                rejected.sort(key=lambda r: r.index)
                return IngestResult(0, in_batch_repeats, rejected)
            seen: dict[str, datetime] = {}
            first: dict[str, datetime] = {}
            for ev in unique:
                if ev.occurred_at > seen.get(ev.user, ev.occurred_at - _EPS):
                    seen[ev.user] = ev.occurred_at
                if ev.occurred_at < first.get(ev.user, ev.occurred_at + _EPS):
                    first[ev.user] = ev.occurred_at
            user_ids = self._user_ids(session, first, last_seen=seen)
            values = DriverValues(self._db.backend)
            received = values.instant(now)
            rows = [
                (ev.event_id, user_ids[ev.user], ev.name, values.json(ev.properties), ev.revenue, ev.delivery_id,
                 values.instant(ev.occurred_at), received)
                for ev in unique
            ]
            inserted = insert_returning(session, "events", _EVENT_COLUMNS, rows, "(event_id) DO NOTHING", "event_id")
            stored = {row[0] for row in inserted}
            self._advance_deliveries(session, [ev for ev in unique if ev.event_id in stored], now)
        rejected.sort(key=lambda r: r.index)
        return IngestResult(len(stored), in_batch_repeats + len(unique) - len(stored), rejected)

    def _drop_unknown_deliveries(
        self, session: Session, valid: list[tuple[int, IncomingEvent]], rejected: list[Rejection]
    ) -> list[tuple[int, IncomingEvent]]:
        wanted = {ev.delivery_id for _, ev in valid if ev.delivery_id is not None}
        if not wanted:
            return valid
        known = set(session.scalars(select(Delivery.id).where(Delivery.id.in_(wanted))).all())
        kept = []
        for index, ev in valid:
            if ev.delivery_id is not None and ev.delivery_id not in known:
                rejected.append(Rejection(index, f"no delivery {ev.delivery_id} in this workspace",
                                          "properties.delivery_id"))
            else:
                kept.append((index, ev))
        return kept

    def _user_ids(
        self,
        session: Session,
        first_seen: dict[str, datetime],
        *,
        last_seen: dict[str, datetime] | None = None,
        locales: dict[str, tuple[str | None, str | None]] | None = None,
    ) -> dict[str, int]:
        """Ids of the named users, creating the missing ones and widening their first/last seen."""
        last_seen = last_seen or first_seen
        locales = locales or {}
        values = DriverValues(self._db.backend)
        no_locale: tuple[str | None, str | None] = (None, None)
        rows = [
            (name, "{}", True, values.instant(first), values.instant(last_seen[name]), *locales.get(name, no_locale))
            for name, first in first_seen.items()
        ]
        found = insert_returning(session, "users", _USER_COLUMNS, rows, _WIDEN_SEEN, "external_id, id")
        return {name: uid for name, uid in found}

    def _advance_deliveries(self, session: Session, events: Sequence[IncomingEvent], now: datetime) -> None:
        """Move deliveries forward for newly stored lifecycle events; a report never moves one back."""
        lifecycle = [ev for ev in events if ev.delivery_id is not None and ev.delivery_state is not None]
        if not lifecycle:
            return
        ids = {ev.delivery_id for ev in lifecycle}
        rows = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))}
        for ev in sorted(lifecycle, key=lambda e: e.occurred_at):
            assert ev.delivery_id is not None and ev.delivery_state is not None
            delivery = rows[ev.delivery_id]
            _apply_report(delivery, ev.delivery_state, ev.occurred_at)
        session.add_all(
            DeliveryEvent(
                delivery_id=ev.delivery_id, kind=ev.name, at=ev.occurred_at,
                detail={"event_id": ev.event_id, "received_at": now.isoformat(),
                        **({"button": ev.properties["button"]} if "button" in ev.properties else {})},
            )
            for ev in lifecycle
        )


_EPS = timedelta(microseconds=1)
_USER_COLUMNS = ("external_id", "attributes", "marketing_consent", "first_seen", "last_seen", "locale", "timezone")
#: An existing user keeps its row; only first/last seen widen (CASE: portable min/max, safe under concurrency).
_WIDEN_SEEN = (
    "(external_id) DO UPDATE SET "
    "first_seen = CASE WHEN excluded.first_seen < users.first_seen THEN excluded.first_seen ELSE users.first_seen END, "
    "last_seen = CASE WHEN excluded.last_seen > users.last_seen THEN excluded.last_seen ELSE users.last_seen END"
)
_EVENT_COLUMNS = (
    "event_id", "user_id", "name", "properties", "revenue", "delivery_id", "occurred_at", "received_at"
)
_FINAL_STATES = (DeliveryState.CLICKED, DeliveryState.DISMISSED, DeliveryState.RECALLED)
_FINAL_RANK = DeliveryState.CLICKED.lifecycle_rank


def _apply_report(delivery: Delivery, state: DeliveryState, at: datetime) -> None:
    """Record a device's report on its delivery: keep the earliest time of each step, never regress.

    A device's report beats any sender state (a send judged failed that arrived after all was delivered).
    Among reports, the higher step wins; the first of clicked / dismissed / recalled ends the story.
    """
    column = _STATE_TIMESTAMP[state]
    previous = getattr(delivery, column)
    if previous is None or at < previous:
        setattr(delivery, column, at)
    current = DeliveryState(delivery.state)
    if not current.is_lifecycle or state.lifecycle_rank > current.lifecycle_rank:
        delivery.state = state.value
    elif state.lifecycle_rank == current.lifecycle_rank == _FINAL_RANK and state is not current:
        ends = {s: getattr(delivery, _STATE_TIMESTAMP[s]) for s in _FINAL_STATES}
        delivery.state = min((t, s.value) for s, t in ends.items() if t is not None)[1]


def _first_of_each_id(valid: Iterable[tuple[int, IncomingEvent]]) -> tuple[list[IncomingEvent], int]:
    """The events with ids not seen earlier in the batch, and how many repeats were dropped."""
    seen: set[str] = set()
    unique: list[IncomingEvent] = []
    repeats = 0
    for _, ev in valid:
        if ev.event_id in seen:
            repeats += 1
        else:
            seen.add(ev.event_id)
            unique.append(ev)
    return unique, repeats
