"""What the sender tells observers, as typed events on ``core.events.EventBus``.

``ProviderProgress`` comes once a second (of the injected clock) per provider that did anything, and once
more when a burst run goes idle; the console charts it, the command line draws a progress bar from it.
The other events mark moments: a campaign changing state, a lane stopping on refused credentials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.domain import CampaignState, Provider
from core.events import Event


@dataclass(frozen=True, slots=True)
class ProviderProgress(Event):
    """One provider lane's work over ``[start, end)``; ``in_flight`` and ``retrying`` are levels at ``end``."""

    provider: Provider
    start: datetime
    end: datetime
    claimed: int
    sent: int
    failed: Mapping[str, int] = field(default_factory=dict)
    suppressed: int = 0
    retried: int = 0
    deferred: int = 0
    in_flight: int = 0
    #: Rows of this provider waiting in ``retry_wait`` at ``end``.
    retrying: int = 0


@dataclass(frozen=True, slots=True)
class CampaignStateChanged(Event):
    """A campaign moved to ``state`` (sending, paused, completed, cancelled)."""

    campaign_id: int
    state: CampaignState
    at: datetime
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LaneStopped(Event):
    """A provider lane stopped sending: its credentials were refused. ``resume_provider`` restarts it."""

    provider: Provider
    error_class: str
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LaneResumed(Event):
    """A stopped provider lane sends again."""

    provider: Provider
    at: datetime


@dataclass(frozen=True, slots=True)
class SendProblem(Event):
    """Something the operator should know that is not one message's fate (a provider call crashed…)."""

    provider: Provider | None
    detail: str
    at: datetime


class LaneCounters:
    """Running totals of one lane since the last progress event (mutable; lives in the engine loop)."""

    def __init__(self) -> None:
        self.claimed = 0
        self.sent = 0
        self.failed: Counter[str] = Counter()
        self.suppressed = 0
        self.retried = 0
        self.deferred = 0
        self.in_flight = 0

    @property
    def busy(self) -> bool:
        """True when something happened since the last event (or messages are in flight)."""
        return bool(self.claimed or self.sent or self.failed or self.suppressed or self.retried or self.deferred
                    or self.in_flight)

    def snapshot(self, provider: Provider, start: datetime, end: datetime, retrying: int) -> ProviderProgress:
        """The event for the period, and a fresh period (``in_flight`` is a level and carries over)."""
        event = ProviderProgress(provider, start, end, self.claimed, self.sent, dict(self.failed), self.suppressed,
                                 self.retried, self.deferred, self.in_flight, retrying)
        self.claimed = self.sent = self.suppressed = self.retried = self.deferred = 0
        self.failed = Counter()
        return event
