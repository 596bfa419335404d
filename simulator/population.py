"""A synthetic demo population: users with traits and attributes, their devices, and 90 days of history.

Three steps, each deterministic per seed (``python main.py demo --users N --seed S`` wires them):

1. ``generate_population(n, seed, now)`` (pure) makes ``SyntheticUser`` rows. Each user's **traits** come
   from ``BehaviourModel(seed).traits(external_id)``, so a simulator run with the same seed reacts to pushes
   as the history suggests. Attributes a campaign manager segments on: ``first_name`` (``first_name_for``,
   the name the behaviour model looks for in personalised titles), ``city``/``country`` with latitude and
   longitude (a few km of jitter around the centre), locale and time zone of that city, ``plan``,
   ``age_band`` and ``signed_up``. They cannot travel through the SDK API, so ``write_users_csv`` writes
   them in the format of core's users import (``herald import users``).
2. ``register_devices(fleet, users)`` gives each user 1–3 devices (60 % one, 30 % two, 10 % three; the first
   is Android 52 %, iOS 38 %, web 10 %; an extra one is a tablet of the same platform or a browser, half
   and half) through ``Fleet.add_device``; ``register_with_herald`` posts them to ``/sdk/v1/devices``.
3. ``simulator.backfill.backfill(users, herald_url, sdk_key)`` streams every user's ``history`` to ``/sdk/v1/events`` in
   batches (1,000 events, four requests in flight), retrying connection errors, 408, 429 and 5xx.

**History model** (90 local days ending at the injected ``now``; days before ``signed_up`` are empty).
With ``e`` engagement, ``p`` price sensitivity and ``c`` churn propensity:

* Sessions on day ``k`` (0 = 90 days ago, 89 = today) ~ Poisson(``(0.04 + 0.70 e) × a(k)``) with the
  activity ``a(k) = 1 − min(0.9, 1.6 c) × k / 89``: a user with ``c = 0.5`` ends at 20 % of the activity it
  started with, one with ``c = 0.05`` at 92 %. With probability ``clamp(2.5 (c − 0.15), 0, 0.9)`` the user
  **stops** altogether 14–28 days before ``now`` (dormant); pushes still arrive but are not opened.
* A session starts in the user's preferred local hours with probability ``0.25 + 0.6 e``, otherwise at a
  diurnal local hour. It views ``1 + ⌊Exp(mean 1 + 2 e)⌋`` items (at most 12); each view goes to the cart
  with ``0.08 + 0.15 e``, × ``(1 + 1.5 p)`` when the item is discounted. A cart is bought with
  ``0.45 × (1 − 0.5 p)``, × ``(1 + 0.8 p)`` when it holds a discounted item; otherwise it is abandoned.
* Items: six categories; a product's price is 0.4–1.6 × its category median, and the product index is
  drawn as ``40 u^(1 + 3 p)``, so the most price-sensitive users pay about 0.65 × the median and the least
  sensitive about 1.0 ×. 20 % of views are discounted (10/20/30 %), 80 % after a discount push.
* Every third day a historic campaign arrives at a fixed local hour; it is opened (``push_opened`` then a
  session with ``source=push``) with the behaviour model's click probability for it (× ``(1 + 0.8 p)`` for
  discount campaigns, × ``a(k)``) — so preferred hours and personalised titles show in the history too.
* With probability ``0.05 + 0.25 e`` a user still active ends with an **abandoned cart**: a session
  1–20 hours before ``now`` that adds an item to the cart and buys nothing, after which nothing happens.

With the defaults a user has about 100 events on average (median 85; a tenth under 25, a tenth over 200),
some 500 k events for 5,000 users; a quarter are dormant for the last 14 days, one in ten left a cart.
Event ids are ``{external_id}-{index}`` (the external id holds the seed), so re-running the demo counts
duplicates instead of adding rows.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from core.domain import Platform, Provider
from simulator.behaviour import BehaviourModel, ContentSignals, UserTraits
from simulator.device import VirtualDevice
from simulator.fleet import APP_VERSIONS, DEFAULT_PROVIDER, Fleet
from simulator.reporter import ReporterStats, SdkReporter

DAYS = 90
BASE_SESSIONS, ENGAGEMENT_SESSIONS = 0.04, 0.70
MAX_DECLINE, DECLINE_PER_CHURN = 0.9, 1.6
STOP_THRESHOLD, STOP_SLOPE, MAX_STOP = 0.15, 2.5, 0.9
STOP_DAYS = (14, 28)
PREFERRED_BASE, PREFERRED_ENGAGEMENT = 0.25, 0.6
VIEW_MEAN_BASE, VIEW_MEAN_ENGAGEMENT, MAX_VIEWS = 1.0, 2.0, 12
CART_BASE, CART_ENGAGEMENT, CART_DISCOUNT_BOOST = 0.08, 0.15, 1.5
BUY_BASE, BUY_DISCOUNT_BOOST = 0.45, 0.8
DISCOUNTED_SHARE, DISCOUNTED_SHARE_PUSH = 0.2, 0.8
ABANDON_BASE, ABANDON_ENGAGEMENT = 0.05, 0.25
CAMPAIGN_EVERY_DAYS = 3
#: The longest a session lasts (12 views, carts, a purchase): later starts would end after ``now``.
SESSION_SPAN_S = 2400.0

CATEGORIES = (("electronics", 180.0), ("fashion", 45.0), ("home", 60.0), ("beauty", 25.0),
              ("sports", 70.0), ("books", 15.0))
PRODUCTS_PER_CATEGORY = 40
PLANS = ("free", "plus", "premium")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
_AGE_WEIGHTS = tuple(accumulate((0.18, 0.32, 0.24, 0.15, 0.11)))
#: Historic campaigns, one every third day in turn: (name, local hour, discount, image, personalised).
CAMPAIGNS = (("weekly-picks", 19, False, True, True), ("flash-sale", 12, True, True, False),
             ("new-arrivals", 10, False, False, False), ("price-drop", 20, True, False, True))
_HOUR_WEIGHTS = tuple(accumulate((1, .5, .3, .2, .2, .4, 1, 2, 3, 3, 3, 3, 4, 4, 3, 3, 3, 4, 5, 6, 6, 5, 4, 2)))
_HOURS = range(24)
_DISCOUNTS = (10, 20, 30)

Event = dict[str, Any]
#: Called with (users done, users in all) as their events are acknowledged by Herald.


@dataclass(frozen=True, slots=True)
class City:
    """A place users live in, with the locale and time zone that go with it."""

    name: str
    country: str
    latitude: float
    longitude: float
    locale: str
    timezone: str
    weight: float


CITIES = (
    City("Istanbul", "TR", 41.0082, 28.9784, "tr-TR", "Europe/Istanbul", 0.14),
    City("Berlin", "DE", 52.5200, 13.4050, "de-DE", "Europe/Berlin", 0.10),
    City("London", "GB", 51.5074, -0.1278, "en-GB", "Europe/London", 0.12),
    City("São Paulo", "BR", -23.5505, -46.6333, "pt-BR", "America/Sao_Paulo", 0.10),
    City("New York", "US", 40.7128, -74.0060, "en-US", "America/New_York", 0.12),
    City("San Francisco", "US", 37.7749, -122.4194, "en-US", "America/Los_Angeles", 0.06),
    City("Paris", "FR", 48.8566, 2.3522, "fr-FR", "Europe/Paris", 0.08),
    City("Madrid", "ES", 40.4168, -3.7038, "es-ES", "Europe/Madrid", 0.06),
    City("Mexico City", "MX", 19.4326, -99.1332, "es-MX", "America/Mexico_City", 0.06),
    City("Tokyo", "JP", 35.6762, 139.6503, "ja-JP", "Asia/Tokyo", 0.07),
    City("Mumbai", "IN", 19.0760, 72.8777, "en-IN", "Asia/Kolkata", 0.05),
    City("Sydney", "AU", -33.8688, 151.2093, "en-AU", "Australia/Sydney", 0.04),
)
_CITY_WEIGHTS = tuple(accumulate(c.weight for c in CITIES))


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """One device a synthetic user owns, before it exists in the fleet."""

    platform: Platform
    provider: Provider
    app_version: str


@dataclass(frozen=True, slots=True)
class SyntheticUser:
    """A demo user: who they are to a campaign manager, their hidden traits, and the shape of their history."""

    external_id: str
    seed: int
    now: datetime
    traits: UserTraits
    city: City
    latitude: float
    longitude: float
    plan: str
    age_band: str
    signed_up: datetime
    marketing_consent: bool
    devices: tuple[DevicePlan, ...]
    #: Days before ``now`` on which a churned user was last active; None while the user is active.
    stopped_days_ago: int | None
    abandons_cart: bool

    @property
    def locale(self) -> str:
        return self.city.locale

    @property
    def timezone(self) -> str:
        return self.city.timezone

    @property
    def attributes(self) -> dict[str, str]:
        """The custom attributes Herald stores for this user (write them with ``write_users_csv``)."""
        return {
            "first_name": self.traits.first_name, "city": self.city.name, "country": self.city.country,
            "plan": self.plan, "age_band": self.age_band, "signed_up": _iso(self.signed_up),
        }


# -- users --------------------------------------------------------------------------------------------------


def generate_population(n: int, seed: int, now: datetime) -> list[SyntheticUser]:
    """``n`` users for ``seed``, their history ending at ``now`` (aware; take it from the injected clock)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    model = BehaviourModel(seed)
    return [_make_user(i, seed, now, model) for i in range(1, n + 1)]


def _make_user(index: int, seed: int, now: datetime, model: BehaviourModel) -> SyntheticUser:
    external_id = f"demo-{seed}-{index:06d}"
    rng = random.Random(f"population|{seed}|{external_id}")
    traits = model.traits(external_id)
    city = rng.choices(CITIES, cum_weights=_CITY_WEIGHTS)[0]
    recent = rng.random() < 0.15
    signed_up = now - timedelta(days=rng.uniform(1, DAYS - 1) if recent else rng.uniform(DAYS, 900))
    stop_chance = min(MAX_STOP, max(0.0, STOP_SLOPE * (traits.churn_propensity - STOP_THRESHOLD)))
    stopped = rng.randint(*STOP_DAYS) if rng.random() < stop_chance else None
    abandons = stopped is None and rng.random() < ABANDON_BASE + ABANDON_ENGAGEMENT * traits.engagement
    return SyntheticUser(
        external_id=external_id, seed=seed, now=now, traits=traits, city=city,
        latitude=round(city.latitude + rng.uniform(-0.05, 0.05), 5),
        longitude=round(city.longitude + rng.uniform(-0.05, 0.05), 5),
        plan=_plan(rng, traits), age_band=rng.choices(AGE_BANDS, cum_weights=_AGE_WEIGHTS)[0],
        signed_up=signed_up.replace(microsecond=0), marketing_consent=rng.random() < 0.8,
        devices=_device_plans(rng), stopped_days_ago=stopped, abandons_cart=abandons,
    )


def _plan(rng: random.Random, traits: UserTraits) -> str:
    # Engaged users pay more often, so plan is a (weak) visible proxy of engagement.
    u = rng.random()
    premium = 0.04 + 0.20 * traits.engagement
    return PLANS[2] if u < premium else PLANS[1] if u < premium + 0.25 else PLANS[0]


def _device_plans(rng: random.Random) -> tuple[DevicePlan, ...]:
    count = rng.choices((1, 2, 3), cum_weights=(0.6, 0.9, 1.0))[0]
    first = rng.choices((Platform.ANDROID, Platform.IOS, Platform.WEB), cum_weights=(0.52, 0.90, 1.0))[0]
    platforms = [first] + [first if rng.random() < 0.5 else Platform.WEB for _ in range(count - 1)]
    return tuple(_device_plan(rng, p) for p in platforms)


def _device_plan(rng: random.Random, platform: Platform) -> DevicePlan:
    versions = APP_VERSIONS[platform]
    version = versions[-1] if rng.random() < 0.6 else rng.choice(versions)
    return DevicePlan(platform, DEFAULT_PROVIDER[platform], version)


USER_CSV_COLUMNS = (
    "external_id", "locale", "timezone", "marketing_consent", "latitude", "longitude", "first_seen",
    "first_name:string", "city:string", "country:string", "plan:string", "age_band:string", "signed_up:datetime",
)


def write_users_csv(users: Iterable[SyntheticUser], path: Path) -> Path:
    """Write ``users`` as a CSV that core's users import (``import_users``) reads with these exact types."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(USER_CSV_COLUMNS)
        for u in users:
            a = u.attributes
            writer.writerow((u.external_id, u.locale, u.timezone, str(u.marketing_consent).lower(), u.latitude,
                             u.longitude, a["signed_up"], a["first_name"], a["city"], a["country"], a["plan"],
                             a["age_band"], a["signed_up"]))
    return path


# -- devices ------------------------------------------------------------------------------------------------


def register_devices(fleet: Fleet, users: Iterable[SyntheticUser]) -> list[VirtualDevice]:
    """Add each user's planned devices to ``fleet`` and save it; devices a user already has are kept.

    Re-running on the same state directory therefore adds nothing. In a fresh fleet the same seed gives the
    same tokens and subscriptions. Web Push devices need the fleet's ``application_server_key``.
    """
    owned: dict[str, list[VirtualDevice]] = {}
    for device in fleet.devices():
        owned.setdefault(device.user, []).append(device)
    result: list[VirtualDevice] = []
    for user in users:
        have = owned.get(user.external_id, [])
        result.extend(have)
        for index in range(len(have), len(user.devices)):
            plan = user.devices[index]
            result.append(fleet.add_device(
                user.external_id, plan.platform, plan.provider, locale=user.locale, timezone=user.timezone,
                app_version=plan.app_version, seed=f"demo|{user.seed}|{index}",
            ))
    fleet.save()
    return result


async def register_with_herald(
    devices: Iterable[VirtualDevice],
    herald_url: str,
    sdk_key: str,
    *,
    fleet_id: str,
    webpush_base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ReporterStats:
    """Post every installed device to ``{herald_url}/sdk/v1/devices`` as the SDK would; returns its stats."""
    reporter = SdkReporter(herald_url, sdk_key, fleet_id=fleet_id, webpush_base_url=webpush_base_url,
                           registration_concurrency=32, transport=transport)
    reporter.register_all(devices)
    try:
        await reporter.flush()
    finally:
        await reporter.stop()
    return reporter.stats


# -- history ------------------------------------------------------------------------------------------------


def history(user: SyntheticUser) -> list[Event]:
    """The user's 90 days of SDK events, oldest first; the same user always gets the same events."""
    return _History(user).build()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_DAY_PREFIX: dict[int, str] = {}


def _iso_ts(ts: float) -> str:
    """``ts`` as ISO 8601 UTC with milliseconds and ``Z``; a few times faster than ``isoformat``."""
    ms = int(ts * 1000)
    day, ms_of_day = divmod(ms, 86_400_000)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
    seconds, millis = divmod(ms_of_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


class _History:
    """Builds one user's events; a single RNG seeded by (seed, user) makes it reproducible."""

    def __init__(self, user: SyntheticUser) -> None:
        self.user = user
        self.t = user.traits
        self.rng = random.Random(f"history|{user.seed}|{user.external_id}")
        self.zone = _zone(user.timezone)
        self.platform = user.devices[0].platform.value
        self.events: list[Event] = []
        now = user.now.timestamp()
        hours = self.rng.uniform(1, 20) if user.abandons_cart else 0.0
        self.limit = now - hours * 3600
        self.decline = min(MAX_DECLINE, DECLINE_PER_CHURN * self.t.churn_propensity)
        self.open_chance = [self._open_chance(c) for c in CAMPAIGNS]

    def _open_chance(self, campaign: tuple[str, int, bool, bool, bool]) -> float:
        _, hour, discount, image, personalised = campaign
        signals = ContentSignals(personalised=personalised, has_image=image, has_buttons=False, has_emoji=False,
                                 long_text=False, preferred_hours=self.t.prefers(hour), night=hour < 6,
                                 mentions_price=discount, deep_link=True)
        chance = BehaviourModel.click_probability(self.t, signals)
        return chance * (1.0 + BUY_DISCOUNT_BOOST * self.t.price_sensitivity if discount else 1.0)

    def build(self) -> list[Event]:
        user = self.user
        today = user.now.astimezone(self.zone).date()
        first = max(0, DAYS - 1 - (today - user.signed_up.astimezone(self.zone).date()).days)
        last_active = DAYS - 1 - (user.stopped_days_ago if user.stopped_days_ago is not None else 0)
        rate = BASE_SESSIONS + ENGAGEMENT_SESSIONS * self.t.engagement
        for k in range(first, DAYS):
            day = today - timedelta(days=DAYS - 1 - k)
            activity = 1.0 - self.decline * k / (DAYS - 1) if k <= last_active else 0.0
            if k % CAMPAIGN_EVERY_DAYS == 1:
                self._campaign(day, k, activity)
            for _ in range(_poisson(self.rng, rate * activity)):
                self._session(self._at(day, self._session_hour()), "organic", DISCOUNTED_SHARE)
        if user.abandons_cart:
            self._session(self.limit, "organic", DISCOUNTED_SHARE, abandon=True)
        self.events.sort(key=lambda e: e["at"])
        return self.events

    def _emit(self, name: str, ts: float, properties: dict[str, Any], revenue: float | None = None) -> None:
        event: Event = {"id": f"{self.user.external_id}-{len(self.events)}", "user": self.user.external_id,
                        "name": name, "at": _iso_ts(ts), "properties": properties}
        if revenue is not None:
            event["revenue"] = revenue
        self.events.append(event)

    def _at(self, day: date, hour: int) -> float:
        minute, second = divmod(self.rng.randrange(3600), 60)
        local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=self.zone)
        return local.timestamp()

    def _session_hour(self) -> int:
        if self.rng.random() < PREFERRED_BASE + PREFERRED_ENGAGEMENT * self.t.engagement:
            return (self.t.preferred_hour + self.rng.randrange(self.t.preferred_span)) % 24
        return self.rng.choices(_HOURS, cum_weights=_HOUR_WEIGHTS)[0]

    def _campaign(self, day: date, k: int, activity: float) -> None:
        which = (k // CAMPAIGN_EVERY_DAYS) % len(CAMPAIGNS)
        name, hour, discount, _, _ = CAMPAIGNS[which]
        if self.rng.random() >= self.open_chance[which] * activity:
            return
        ts = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone).timestamp()
        ts += self.rng.lognormvariate(math.log(300), 1.0)
        if ts > self.limit - SESSION_SPAN_S:
            return
        self._emit("push_opened", ts, {"campaign": f"{name}-{day.isoformat()}", "platform": self.platform,
                                       "discount": discount})
        self._session(ts + 2, "push", DISCOUNTED_SHARE_PUSH if discount else DISCOUNTED_SHARE)

    def _session(self, ts: float, source: str, discounted_share: float, *, abandon: bool = False) -> None:
        if ts > self.limit - SESSION_SPAN_S and not abandon:
            return
        rng, e, p = self.rng, self.t.engagement, self.t.price_sensitivity
        self._emit("session_start", ts, {"platform": self.platform, "source": source})
        views = 1 + min(MAX_VIEWS - 1, int(rng.expovariate(1.0 / (VIEW_MEAN_BASE + VIEW_MEAN_ENGAGEMENT * e))))
        cart: list[float] = []
        any_discount = False
        for view in range(views):
            ts += rng.uniform(10, 90)
            category, product, price, discount = self._item(discounted_share)
            self._emit("view_item", ts, {"product_id": product, "category": category, "price": price,
                                         "discount_pct": discount})
            chance = (CART_BASE + CART_ENGAGEMENT * e) * (1.0 + CART_DISCOUNT_BOOST * p if discount else 1.0)
            if rng.random() < chance or (abandon and view == views - 1 and not cart):
                ts += rng.uniform(5, 40)
                cart.append(price)
                any_discount = any_discount or discount > 0
                self._emit("add_to_cart", ts, {"product_id": product, "category": category, "price": price,
                                               "cart_value": round(sum(cart), 2), "items": len(cart)})
        buy = BUY_BASE * (1.0 - 0.5 * p) * (1.0 + BUY_DISCOUNT_BOOST * p if any_discount else 1.0)
        if cart and not abandon and rng.random() < buy:
            self._emit("purchase", ts + rng.uniform(30, 300),
                       {"order_id": f"{self.user.external_id}-o{len(self.events)}", "items": len(cart),
                        "discounted": any_discount}, revenue=round(sum(cart), 2))

    def _item(self, discounted_share: float) -> tuple[str, str, float, int]:
        rng = self.rng
        category, median = CATEGORIES[rng.randrange(len(CATEGORIES))]
        index = min(PRODUCTS_PER_CATEGORY - 1, int(PRODUCTS_PER_CATEGORY * rng.random() ** (
            1.0 + 3.0 * self.t.price_sensitivity)))
        price = median * (0.4 + 1.2 * index / (PRODUCTS_PER_CATEGORY - 1))
        discount = rng.choice(_DISCOUNTS) if rng.random() < discounted_share else 0
        return category, f"{category}-{index:03d}", round(price * (1 - discount / 100), 2), discount
