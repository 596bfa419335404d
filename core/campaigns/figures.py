"""Live figures of one campaign for the console's dashboard: totals and per-second series, read cheaply.

``campaign_figures`` is one grouped query over the campaign's outbox rows (served by the
``(campaign_id, state)`` index) plus one over its conversions, so the dashboard can ask once a second
while thousands of messages fly. ``campaign_timeline`` buckets every row's timestamps by second, for a
dashboard opened on a campaign that has already run::

    figures = campaign_figures(db, 7)      # CampaignFigures(targeted=20000, sent=18210, delivered=..., ...)
    series = campaign_timeline(db, 7)      # CampaignTimeline(start=..., sent=[...], delivered=[...], ...)

Conversions are the SDK's ``purchase`` events that carry one of the campaign's delivery ids.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from core.domain import CampaignState, DeliveryKind, DeliveryState
from core.errors import ValidationError
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Event

#: The SDK event name of a conversion (the simulator's reporter and real SDKs send it).
CONVERSION_EVENT = "purchase"
_PENDING = (DeliveryState.QUEUED.value, DeliveryState.CLAIMED.value, DeliveryState.RETRY_WAIT.value)
_FAILED = (DeliveryState.FAILED.value, DeliveryState.TOKEN_INVALID.value)
#: The series a timeline carries, in drawing order.
SERIES = ("sent", "delivered", "displayed", "clicked")


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """Where one campaign stands: its state and how many of its messages reached each step."""

    campaign_id: int
    name: str
    state: CampaignState
    targeted: int = 0
    pending: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    delivered: int = 0
    displayed: int = 0
    clicked: int = 0
    converted: int = 0
    revenue: float = 0.0
    started_at: datetime | None = None

    @property
    def finished(self) -> int:
        """Rows whose sending is over (sent, failed, suppressed or cancelled): the progress bar's value."""
        return self.targeted - self.pending

    @property
    def click_through_rate(self) -> float | None:
        """Clicks per delivered message, or None before anything was delivered."""
        return self.clicked / self.delivered if self.delivered else None

    @property
    def live(self) -> bool:
        """True while the campaign is sending or paused."""
        return self.state in (CampaignState.SENDING, CampaignState.PAUSED)


@dataclass(frozen=True, slots=True)
class CampaignTimeline:
    """Per-second counts of each step since ``start`` (index 0 is the second that starts at ``start``)."""

    start: datetime | None
    series: dict[str, list[int]] = field(default_factory=dict)

    @property
    def seconds(self) -> int:
        """How many seconds the series cover."""
        return max((len(v) for v in self.series.values()), default=0)


def campaign_figures(db: Database, campaign_id: int) -> CampaignFigures:
    """The campaign's totals now; ValidationError when there is no such campaign."""
    with db.transaction() as s:
        campaign = s.execute(
            select(Campaign.name, Campaign.state, Campaign.started_at).where(Campaign.id == campaign_id)
        ).one_or_none()
        if campaign is None:
            raise ValidationError(f"there is no campaign {campaign_id} in this workspace", "campaign")
        by_state: Counter[str] = Counter()
        stamps = s.execute(
            select(Delivery.state, func.count(), func.count(Delivery.sent_at), func.count(Delivery.delivered_at),
                   func.count(Delivery.displayed_at), func.count(Delivery.clicked_at))
            .where(Delivery.campaign_id == campaign_id, Delivery.kind == DeliveryKind.MESSAGE.value)
            .group_by(Delivery.state)
        ).all()
        sent = delivered = displayed = clicked = 0
        for state, n, n_sent, n_delivered, n_displayed, n_clicked in stamps:
            by_state[state] += int(n)
            sent += int(n_sent)
            delivered += int(n_delivered)
            displayed += int(n_displayed)
            clicked += int(n_clicked)
        conversions = s.execute(
            select(func.count(), func.coalesce(func.sum(Event.revenue), 0.0))
            .where(Event.name == CONVERSION_EVENT,
                   Event.delivery_id.in_(select(Delivery.id).where(Delivery.campaign_id == campaign_id)))
        ).one()
    return CampaignFigures(
        campaign_id=campaign_id, name=campaign.name, state=CampaignState(campaign.state),
        targeted=sum(by_state.values()), pending=sum(by_state[s] for s in _PENDING),
        sent=sent, failed=sum(by_state[s] for s in _FAILED), cancelled=by_state[DeliveryState.CANCELLED.value],
        delivered=delivered, displayed=displayed, clicked=clicked, converted=int(conversions[0] or 0),
        revenue=float(conversions[1] or 0.0), started_at=campaign.started_at,
    )


def campaign_timeline(db: Database, campaign_id: int, *, max_seconds: int = 3600) -> CampaignTimeline:
    """Each step's count per second from the campaign's first sent message (at most ``max_seconds``)."""
    with db.transaction() as s:
        rows = s.execute(
            select(Delivery.sent_at, Delivery.delivered_at, Delivery.displayed_at, Delivery.clicked_at)
            .where(Delivery.campaign_id == campaign_id, Delivery.kind == DeliveryKind.MESSAGE.value,
                   Delivery.sent_at.is_not(None))
        ).all()
    if not rows:
        return CampaignTimeline(None, {name: [] for name in SERIES})
    start = min(row[0] for row in rows if row[0] is not None)
    origin = int(start.timestamp())
    counters: dict[str, Counter[int]] = {name: Counter() for name in SERIES}
    for row in rows:
        for name, at in zip(SERIES, row, strict=True):
            if at is not None:
                second = int(at.timestamp()) - origin
                if 0 <= second < max_seconds:
                    counters[name][second] += 1
    length = max((max(c, default=-1) + 1 for c in counters.values()), default=0)
    series = {name: [counters[name].get(i, 0) for i in range(length)] for name in SERIES}
    return CampaignTimeline(datetime.fromtimestamp(origin, start.tzinfo), series)
