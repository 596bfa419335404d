"""Faults on demand: make a protocol service throttle, fail, stall, reset or expire credentials.

Each service owns one ``FaultInjector``; ``ServiceFaults`` holds the four of them (``oauth``, ``fcm``,
``apns``, ``webpush``) so the control API and command-line flags have one object to steer::

    faults = ServiceFaults(seed=7)
    faults["apns"].update(rate_429=0.1, retry_after_s=2, goaway_after_streams=500)
    faults["webpush"].update(latency={"kind": "lognormal", "median": 0.02, "sigma": 0.5})
    faults["oauth"].expire_tokens()        # every access token issued so far answers 401 from now on
    faults.snapshot()                      # {"apns": {...FaultSettings as JSON...}, ...}

``FaultSettings`` (all off by default):

* ``rate_429`` / ``retry_after_s`` — share of requests answered "too many requests" with ``Retry-After``;
* ``rate_500``, ``rate_503`` — shares answered with an internal error / unavailable;
* ``rate_auth_error`` — share refused as a provider-side credential failure: FCM 401
  THIRD_PARTY_AUTH_ERROR (the project's APNs / Web Push credential was rejected), APNs 403
  InvalidProviderToken, Web Push 403;
* ``reset_rate`` — share of connections cut (TCP reset) after the request body was read, before answering;
* ``latency`` — added delay before answering: ``none``, ``fixed`` (``seconds``), ``uniform``
  (``low``..``high``) or ``lognormal`` (``median``, ``sigma``), in seconds;
* ``goaway_after_streams`` — APNs only: send GOAWAY on a connection after this many streams;
* ``tokens_valid_after`` — credentials issued before this epoch second count as expired (OAuth access
  tokens answer 401, APNs provider tokens 403 ExpiredProviderToken); ``expire_tokens()`` sets it to now.

The rates are drawn from one seeded RNG per service, so the same seed and the same request order give the
same faults. Updates replace the settings atomically and are safe from any thread.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

SERVICE_NAMES = ("oauth", "fcm", "apns", "webpush")


class LatencyKind(StrEnum):
    """The shape of the added-latency distribution."""

    NONE = "none"
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True)
class Latency:
    """Added latency, in seconds, drawn per request."""

    kind: LatencyKind = LatencyKind.NONE
    seconds: float = 0.0
    low: float = 0.0
    high: float = 0.0
    median: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", LatencyKind(self.kind))
        if min(self.seconds, self.low, self.high, self.median, self.sigma) < 0:
            raise ValueError("latency parameters must not be negative")
        if self.kind is LatencyKind.UNIFORM and self.high < self.low:
            raise ValueError("uniform latency needs low <= high")

    def sample(self, rng: random.Random) -> float:
        """One delay from the distribution."""
        if self.kind is LatencyKind.FIXED:
            return self.seconds
        if self.kind is LatencyKind.UNIFORM:
            return rng.uniform(self.low, self.high)
        if self.kind is LatencyKind.LOGNORMAL and self.median > 0:
            return rng.lognormvariate(math.log(self.median), self.sigma)
        return 0.0


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """One service's fault configuration; see the module docstring for each field."""

    rate_429: float = 0.0
    retry_after_s: int = 1
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_auth_error: float = 0.0
    reset_rate: float = 0.0
    latency: Latency = field(default_factory=Latency)
    goaway_after_streams: int | None = None
    tokens_valid_after: float = 0.0

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_500, self.rate_503, self.rate_auth_error, self.reset_rate)
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise ValueError("fault rates must lie in [0, 1]")
        if self.rate_429 + self.rate_500 + self.rate_503 + self.rate_auth_error > 1.0 + 1e-9:
            raise ValueError("rate_429 + rate_500 + rate_503 + rate_auth_error must not exceed 1")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must not be negative")
        if self.goaway_after_streams is not None and self.goaway_after_streams < 1:
            raise ValueError("goaway_after_streams must be at least 1")

    @property
    def active(self) -> bool:
        """True when any per-request fault can fire."""
        return bool(
            self.rate_429 or self.rate_500 or self.rate_503 or self.rate_auth_error or self.reset_rate
            or self.latency.kind is not LatencyKind.NONE
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data = asdict(self)
        data["latency"]["kind"] = str(self.latency.kind)
        return data


class FaultKind(StrEnum):
    """What an injected fault makes the service answer."""

    THROTTLED = "throttled"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    AUTH = "auth"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The fate of one request: wait ``delay`` seconds, then answer normally or with ``kind``."""

    delay: float = 0.0
    kind: FaultKind | None = None
    retry_after_s: int = 0


NO_FAULT = FaultDecision()


class FaultInjector:
    """The fault settings of one service and the seeded draws made against them."""

    def __init__(
        self, service: str, *, seed: int = 0, now: Callable[[], float] = time.time,
        settings: FaultSettings | None = None,
    ) -> None:
        self.service = service
        self._now = now
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}:{service}")
        self._settings = settings or FaultSettings()
        self._counts: dict[FaultKind, int] = dict.fromkeys(FaultKind, 0)

    @property
    def settings(self) -> FaultSettings:
        """The settings in force (an immutable value)."""
        return self._settings

    def snapshot(self) -> FaultSettings:
        """The settings in force; same as ``settings``, named for the control API."""
        return self._settings

    def update(self, **changes: Any) -> FaultSettings:
        """Change some fields; ``latency`` may be a ``Latency`` or a dict of its fields. Atomic."""
        latency = changes.get("latency")
        if isinstance(latency, Mapping):
            changes["latency"] = Latency(**latency)
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return self._settings

    def clear(self) -> FaultSettings:
        """Back to no faults (an earlier ``expire_tokens`` stays in force)."""
        with self._lock:
            self._settings = FaultSettings(tokens_valid_after=self._settings.tokens_valid_after)
            return self._settings

    def expire_tokens(self) -> None:
        """Treat every credential issued until now as expired."""
        self.update(tokens_valid_after=self._now())

    def token_expired(self, issued_at: float) -> bool:
        """True when a credential issued at ``issued_at`` (epoch seconds) was expired by a fault."""
        return issued_at < self._settings.tokens_valid_after

    def counts(self) -> dict[str, int]:
        """How many faults of each kind were injected so far."""
        with self._lock:
            return {str(kind): n for kind, n in self._counts.items()}

    def decide(self) -> FaultDecision:
        """Draw the fate of one request from the current settings."""
        settings = self._settings
        if not settings.active:
            return NO_FAULT
        with self._lock:
            delay = settings.latency.sample(self._rng)
            kind = self._draw_kind(settings)
            if kind is not None:
                self._counts[kind] += 1
        return FaultDecision(delay=delay, kind=kind, retry_after_s=settings.retry_after_s)

    def _draw_kind(self, settings: FaultSettings) -> FaultKind | None:
        if settings.reset_rate and self._rng.random() < settings.reset_rate:
            return FaultKind.RESET
        draw = self._rng.random()
        for kind, rate in (
            (FaultKind.THROTTLED, settings.rate_429),
            (FaultKind.INTERNAL, settings.rate_500),
            (FaultKind.UNAVAILABLE, settings.rate_503),
            (FaultKind.AUTH, settings.rate_auth_error),
        ):
            if draw < rate:
                return kind
            draw -= rate
        return None


class ServiceFaults(Mapping[str, FaultInjector]):
    """The fault injectors of all services, by service name (``oauth``, ``fcm``, ``apns``, ``webpush``)."""

    def __init__(self, *, seed: int = 0, now: Callable[[], float] = time.time) -> None:
        self._injectors = {name: FaultInjector(name, seed=seed, now=now) for name in SERVICE_NAMES}

    def __getitem__(self, service: str) -> FaultInjector:
        return self._injectors[service]

    def __iter__(self) -> Iterator[str]:
        return iter(self._injectors)

    def __len__(self) -> int:
        return len(self._injectors)

    def update(self, service: str, **changes: Any) -> FaultSettings:
        """Change one service's settings (see ``FaultInjector.update``)."""
        return self._injectors[service].update(**changes)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every service's settings as plain JSON-ready values."""
        return {name: inj.snapshot().to_dict() for name, inj in self._injectors.items()}
