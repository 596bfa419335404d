"""What a template may know about a recipient, loaded in bulk for a batch of devices.

``RecipientDirectory.load(device_ids)`` answers with one ``RecipientContext`` per device in two queries,
whatever the batch size: the devices with their users (profile fields and attributes), and the users'
recent behaviour — the latest event of each behaviour kind per user within ``lookback`` — through one
window-function query on ``ix_events_user_time`` (SQLite and PostgreSQL alike).

Variables a template sees (all plain data, see ``core.composer.templates.plain_variables``):

===============================  ==================================================================
``first_name`` …                 every user attribute at the top level (unless it collides with a
                                 namespace below; all are also under ``user.attributes``)
``user.external_id``             profile: ``external_id``, ``locale``, ``timezone``, ``first_seen``,
                                 ``last_seen`` (ISO 8601), ``attributes``
``device.platform``              ``platform``, ``locale``, ``timezone``, ``app_version``
``recent.last_viewed_product``   latest ``view_item``: ``last_viewed_product``, ``_category``,
                                 ``_price``, ``last_viewed_at``
``recent.cart_value``            the open cart (latest ``add_to_cart`` after the last purchase):
                                 ``cart_value`` and ``cart_items`` (0 when none), ``has_open_cart``
``recent.last_order_value``      latest ``purchase``: ``last_order_value``, ``last_purchase_at``
===============================  ==================================================================

A field with nothing behind it (no product viewed) is absent, so strict mode reports it unless the
template gives a ``default``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from core.clock import Clock, SystemClock
from core.composer.templates import plain_variables
from core.domain import Platform
from core.persistence import Database
from core.persistence.models import Device, Event, User

NAMESPACES = ("user", "device", "recent")
#: Devices per query (well under SQLite's parameter limit).
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class BehaviourEvents:
    """The event names recent-behaviour fields are computed from (the demo population's names)."""

    viewed: str = "view_item"
    carted: str = "add_to_cart"
    purchased: str = "purchase"


@dataclass(frozen=True, slots=True)
class RecipientContext:
    """One device's recipient: who they are (for errors and locale) and the variables a template sees."""

    device_id: int
    user_id: int
    external_id: str
    platform: Platform
    locale: str | None
    token: str
    variables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How errors name the recipient."""
        return f"user {self.external_id} (device {self.device_id})"


def recipient_variables(
    *,
    external_id: str,
    attributes: Mapping[str, Any] | None,
    locale: str | None = None,
    timezone: str | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    device: Mapping[str, Any] | None = None,
    recent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables of one recipient, as plain data."""
    attrs = plain_variables(dict(attributes or {}))
    user = {"external_id": external_id, "locale": locale, "timezone": timezone, "first_seen": first_seen,
            "last_seen": last_seen, "attributes": attrs}
    variables: dict[str, Any] = {k: v for k, v in attrs.items() if k not in NAMESPACES}
    variables["user"] = plain_variables({k: v for k, v in user.items() if v is not None})
    variables["device"] = plain_variables(dict(device or {}))
    variables["recent"] = plain_variables(dict(recent or {}))
    return variables


class RecipientDirectory:
    """Loads ``RecipientContext`` for batches of devices from the workspace database."""

    def __init__(self, db: Database, clock: Clock | None = None, *, lookback: timedelta = timedelta(days=30),
                 events: BehaviourEvents = BehaviourEvents()) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._lookback = lookback
        self._events = events
        self.queries = 0

    def load(self, device_ids: Iterable[int]) -> dict[int, RecipientContext]:
        """The context of each known device among ``device_ids`` (unknown ids are left out)."""
        ids = sorted(set(device_ids))
        out: dict[int, RecipientContext] = {}
        for start in range(0, len(ids), _CHUNK):
            out.update(self._load_chunk(ids[start:start + _CHUNK]))
        return out

    def _load_chunk(self, ids: Sequence[int]) -> dict[int, RecipientContext]:
        with self._db.transaction() as s:
            rows = s.execute(
                select(Device.id, Device.platform, Device.token, Device.locale, Device.timezone, Device.app_version,
                       User.id, User.external_id, User.attributes, User.locale, User.timezone, User.first_seen,
                       User.last_seen)
                .join(User, User.id == Device.user_id).where(Device.id.in_(ids))
            ).all()
            self.queries += 1
            recent = self._recent(s, {row[6] for row in rows})
        out: dict[int, RecipientContext] = {}
        for (device_id, platform, token, d_locale, d_tz, app_version, user_id, external_id, attributes, locale,
             timezone, first_seen, last_seen) in rows:
            device = {"platform": platform, "locale": d_locale, "timezone": d_tz, "app_version": app_version}
            variables = recipient_variables(
                external_id=external_id, attributes=attributes, locale=locale, timezone=timezone,
                first_seen=first_seen, last_seen=last_seen,
                device={k: v for k, v in device.items() if v is not None},
                recent=recent.get(user_id) or self._behaviour({}),
            )
            out[device_id] = RecipientContext(device_id, user_id, external_id, Platform(platform),
                                              locale or d_locale, token, variables)
        return out

    def _recent(self, session: Any, user_ids: set[int]) -> dict[int, dict[str, Any]]:
        if not user_ids:
            return {}
        names = (self._events.viewed, self._events.carted, self._events.purchased)
        since = self._clock.now() - self._lookback
        ranked = (
            select(Event.user_id, Event.name, Event.properties, Event.revenue, Event.occurred_at,
                   func.row_number().over(partition_by=(Event.user_id, Event.name),
                                          order_by=(Event.occurred_at.desc(), Event.id.desc())).label("rn"))
            .where(and_(Event.user_id.in_(sorted(user_ids)), Event.name.in_(names), Event.occurred_at >= since))
            .subquery()
        )
        rows = session.execute(
            select(ranked.c.user_id, ranked.c.name, ranked.c.properties, ranked.c.revenue, ranked.c.occurred_at)
            .where(ranked.c.rn == 1)
        ).all()
        self.queries += 1
        latest: dict[int, dict[str, tuple[Mapping[str, Any], float | None, datetime]]] = {}
        for user_id, name, properties, revenue, occurred_at in rows:
            latest.setdefault(user_id, {})[name] = (properties or {}, revenue, occurred_at)
        return {user_id: self._behaviour(events) for user_id, events in latest.items()}

    def _behaviour(self, events: Mapping[str, tuple[Mapping[str, Any], float | None, datetime]]) -> dict[str, Any]:
        names = self._events
        out: dict[str, Any] = {"cart_value": 0, "cart_items": 0, "has_open_cart": False}
        viewed = events.get(names.viewed)
        if viewed is not None:
            props, _, at = viewed
            out.update(_present(last_viewed_product=props.get("product_id") or props.get("name"),
                                last_viewed_category=props.get("category"), last_viewed_price=props.get("price"),
                                last_viewed_at=at))
        purchased = events.get(names.purchased)
        if purchased is not None:
            props, revenue, at = purchased
            out.update(_present(last_purchase_at=at, last_order_value=revenue))
        carted = events.get(names.carted)
        if carted is not None and (purchased is None or carted[2] > purchased[2]):
            props = carted[0]
            out["cart_value"] = props.get("cart_value", props.get("price", 0)) or 0
            out["cart_items"] = props.get("items", 1) or 1
            out["has_open_cart"] = True
        return out


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
