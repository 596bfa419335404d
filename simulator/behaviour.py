"""How a simulated user reacts to a notification: open, click a button, dismiss or ignore; convert or not.

Each user has **traits** drawn once from ``(seed, user)``: ``engagement`` (Kumaraswamy(1.5, 3), mean
0.37), ``preferred_hour`` (local hour their attention peaks, 7–21) with a window of ``preferred_span``
hours (3–5), ``price_sensitivity`` (uniform 0–1) and ``churn_propensity`` (Kumaraswamy(1.2, 5), mean 0.21).

Every reaction is a function of ``(seed, device, delivery)`` and the content alone: the random numbers come
from a BLAKE2b hash of that triple, so thread interleaving and arrival order never change an outcome and the
same seed replays the same run.

**Click (open) probability** = ``0.03 + 0.22 × engagement``, multiplied by each content effect that applies,
capped at 0.95:

============================================  ==========
effect                                        multiplier
============================================  ==========
personalised title (user's first name in it)  × 1.30
image                                         × 1.25
action buttons                                × 1.15
emoji in title or body                        × 1.10
title + body longer than 120 characters       × 0.80
received in the user's preferred local hours  × 1.50
received at night (00:00–05:59 local)         × 0.50
============================================  ==========

The first name is ``first_name_for(user)``; a demo population that gives users that ``first_name``
attribute makes Liquid personalisation visible to the model. With buttons, 55 % of clicks land on a button
(the first one in two thirds of those). A user who does not click **dismisses** with probability
``0.40 + 0.30 × (1 − engagement)`` and otherwise leaves the notification in the tray. A dismissal turns push
permission off with probability ``0.02 × churn_propensity`` and uninstalls the app with probability
``0.005 × churn_propensity`` (both doubled at night); an uninstalled app's token answers "unregistered".

**Conversion** after a click: ``0.30 × (1 − 0.5 × price_sensitivity)``, × ``(1 + 0.8 × price_sensitivity)``
when the text mentions a price or discount (a digit with %, €, $, £, "sale", "discount", "% off"), × 1.20
with a deep link. Revenue is log-normal with median ``45 × (1.4 − price_sensitivity)`` and σ 0.5.

**Timing** (seconds, log-normal, all × ``time_scale``): click median ``20 × (1.5 − engagement)``, dismiss
median 45, conversion median 120 after the click; each capped at six hours.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from statistics import NormalDist
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.inbound import RenderedNotification

BASE_CLICK = 0.03
ENGAGEMENT_CLICK = 0.22
MAX_CLICK = 0.95
EFFECT_PERSONALISED = 1.30
EFFECT_IMAGE = 1.25
EFFECT_BUTTONS = 1.15
EFFECT_EMOJI = 1.10
EFFECT_LONG = 0.80
LONG_TEXT = 120
EFFECT_PREFERRED_HOURS = 1.50
EFFECT_NIGHT = 0.50
BUTTON_SHARE = 0.55
OPT_OUT_RATE = 0.02
UNINSTALL_RATE = 0.005
MAX_DELAY_S = 6 * 3600.0

FIRST_NAMES = (
    "Ada", "Ben", "Chloé", "Dara", "Elif", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
    "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Viktor", "Wen", "Yara",
)

_PRICE = re.compile(r"\d\s?%|[€$£]\s?\d|\d\s?[€$£]|\bsale\b|\bdiscount|% off", re.IGNORECASE)
_NORMAL = NormalDist()
_UTC = ZoneInfo("UTC")


class ReactionKind(StrEnum):
    """What the user does with a notification on screen."""

    CLICK = "click"
    DISMISS = "dismiss"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class UserTraits:
    """Who the user is, as far as notifications go."""

    engagement: float
    preferred_hour: int
    preferred_span: int
    price_sensitivity: float
    churn_propensity: float
    #: The name a personalised title greets this user with (``first_name_for``).
    first_name: str = ""

    def prefers(self, local_hour: int) -> bool:
        return (local_hour - self.preferred_hour) % 24 < self.preferred_span


@dataclass(frozen=True, slots=True)
class ContentSignals:
    """The features of a notification (and its arrival) that the model reacts to."""

    personalised: bool
    has_image: bool
    has_buttons: bool
    has_emoji: bool
    long_text: bool
    preferred_hours: bool
    night: bool
    mentions_price: bool
    deep_link: bool


@dataclass(frozen=True, slots=True)
class Reaction:
    """The user's decision about one notification; delays count from its display."""

    kind: ReactionKind
    delay_s: float
    button: str | None = None
    converts: bool = False
    revenue: float = 0.0
    convert_delay_s: float = 0.0
    opts_out: bool = False
    uninstalls: bool = False


def first_name_for(user: str) -> str:
    """The first name the model expects in a personalised title for ``user`` (independent of the seed)."""
    digest = hashlib.blake2b(user.encode(), digest_size=8).digest()
    return FIRST_NAMES[int.from_bytes(digest, "big") % len(FIRST_NAMES)]


_EIGHT_WORDS = struct.Struct(">8Q")


def _uniforms(seed: int, what: object, key: object) -> list[float]:
    digest = hashlib.blake2b(f"{seed}|{what}|{key}".encode(), digest_size=64).digest()
    return [(word >> 11) * 1.1102230246251565e-16 for word in _EIGHT_WORDS.unpack(digest)]


def _lognormal(u: float, median: float, sigma: float) -> float:
    z = _NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
    return median * math.exp(sigma * z)


def _kumaraswamy(u: float, a: float, b: float) -> float:
    return float((1.0 - (1.0 - u) ** (1.0 / b)) ** (1.0 / a))


def _has_emoji(text: str) -> bool:
    return any(ch >= "\U0001f000" or "\u2600" <= ch <= "\u27bf" for ch in text if ch >= "\u2600")


class BehaviourModel:
    """Seeded users who react to notifications; see the module docstring for every effect and its size."""

    def __init__(self, seed: int, *, time_scale: float = 1.0) -> None:
        self.seed = seed
        self.time_scale = time_scale
        self._traits: dict[str, UserTraits] = {}
        self._zones: dict[str, ZoneInfo] = {}
        self._texts: dict[tuple[str, str, str], tuple[bool, bool, bool]] = {}

    def traits(self, user: str) -> UserTraits:
        """The user's traits, the same for the same ``(seed, user)``."""
        found = self._traits.get(user)
        if found is None:
            u = _uniforms(self.seed, "traits", user)
            found = UserTraits(
                engagement=_kumaraswamy(u[0], 1.5, 3.0),
                preferred_hour=7 + int(u[1] * 15),
                preferred_span=3 + int(u[2] * 3),
                price_sensitivity=u[3],
                churn_propensity=_kumaraswamy(u[4], 1.2, 5.0),
                first_name=first_name_for(user),
            )
            if len(self._traits) >= 500_000:
                self._traits.clear()
            self._traits[user] = found
        return found

    def local_hour(self, at: datetime, timezone: str) -> int:
        zone = self._zones.get(timezone)
        if zone is None:
            try:
                zone = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                zone = _UTC
            self._zones[timezone] = zone
        return at.astimezone(zone).hour

    def signals(self, note: RenderedNotification, user: str, traits: UserTraits, hour: int) -> ContentSignals:
        """What the user notices about ``note`` received at local ``hour``."""
        key = (note.title, note.subtitle, note.body)
        text_signals = self._texts.get(key)
        if text_signals is None:
            text = " ".join(key)
            text_signals = (_has_emoji(text), len(note.title) + len(note.body) > LONG_TEXT,
                            _PRICE.search(text) is not None)
            if len(self._texts) >= 10_000:
                self._texts.clear()
            self._texts[key] = text_signals
        title = note.title.casefold()
        name = traits.first_name or first_name_for(user)
        return ContentSignals(
            personalised=name.casefold() in title or user.casefold() in title,
            has_image=bool(note.image),
            has_buttons=bool(note.buttons),
            has_emoji=text_signals[0],
            long_text=text_signals[1],
            preferred_hours=traits.prefers(hour),
            night=hour < 6,
            mentions_price=text_signals[2],
            deep_link=bool(note.deep_link),
        )

    @staticmethod
    def click_probability(traits: UserTraits, s: ContentSignals) -> float:
        """The chance that this user opens a notification with these signals."""
        p = BASE_CLICK + ENGAGEMENT_CLICK * traits.engagement
        p *= EFFECT_PERSONALISED if s.personalised else 1.0
        p *= EFFECT_IMAGE if s.has_image else 1.0
        p *= EFFECT_BUTTONS if s.has_buttons else 1.0
        p *= EFFECT_EMOJI if s.has_emoji else 1.0
        p *= EFFECT_LONG if s.long_text else 1.0
        p *= EFFECT_PREFERRED_HOURS if s.preferred_hours else 1.0
        p *= EFFECT_NIGHT if s.night else 1.0
        return min(p, MAX_CLICK)

    @staticmethod
    def conversion_probability(traits: UserTraits, s: ContentSignals) -> float:
        """The chance that a click ends in a purchase."""
        p = 0.30 * (1.0 - 0.5 * traits.price_sensitivity)
        p *= 1.0 + 0.8 * traits.price_sensitivity if s.mentions_price else 1.0
        p *= 1.20 if s.deep_link else 1.0
        return min(p, 0.95)

    def react(
        self,
        *,
        device_id: int,
        user: str,
        timezone: str,
        delivery_key: str | int,
        note: RenderedNotification,
        at: datetime,
    ) -> Reaction:
        """The user's reaction to ``note`` displayed at ``at``: deterministic in (seed, device, delivery)."""
        u = _uniforms(self.seed, device_id, delivery_key)
        traits = self.traits(user)
        s = self.signals(note, user, traits, self.local_hour(at, timezone))
        scale = self.time_scale
        if u[0] < self.click_probability(traits, s):
            button = None
            if note.buttons and u[1] < BUTTON_SHARE:
                share = u[1] / BUTTON_SHARE
                others = note.buttons[1:]
                button = note.buttons[0].id if share < 2 / 3 or not others else others[
                    min(int((share - 2 / 3) * 3 * len(others)), len(others) - 1)
                ].id
            delay = _lognormal(u[2], 20.0 * (1.5 - traits.engagement), 1.0) * scale
            converts = u[3] < self.conversion_probability(traits, s)
            median_revenue = 45.0 * (1.4 - traits.price_sensitivity)
            revenue = round(_lognormal(u[4], median_revenue, 0.5), 2) if converts else 0.0
            return Reaction(
                ReactionKind.CLICK,
                min(delay, MAX_DELAY_S),
                button,
                converts,
                revenue,
                min(_lognormal(u[5], 120.0, 0.8) * scale, MAX_DELAY_S),
            )
        if u[1] < 0.40 + 0.30 * (1.0 - traits.engagement):
            annoyance = traits.churn_propensity * (2.0 if s.night else 1.0)
            delay = min(_lognormal(u[2], 45.0, 1.0) * scale, MAX_DELAY_S)
            return Reaction(ReactionKind.DISMISS, delay, opts_out=u[6] < OPT_OUT_RATE * annoyance,
                            uninstalls=u[7] < UNINSTALL_RATE * annoyance)
        return Reaction(ReactionKind.IGNORE, 0.0)
