"""Creating, listing and addressing campaigns; every change lands in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from core.campaigns.definition import Audience, CampaignDefinition
from core.clock import Clock, SystemClock
from core.composer.content import PushContent
from core.domain import CampaignState, DeliveryKind
from core.errors import ValidationError
from core.persistence import Database
from core.persistence.models import AuditEntry, Campaign, Delivery, Device, User, Variant

_SENT_OR_LATER = ("sent", "delivered", "displayed", "clicked", "dismissed", "recalled")
_DELIVERED_OR_LATER = ("delivered", "displayed", "clicked", "dismissed", "recalled")


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """One row of the campaign list."""

    id: int
    name: str
    state: CampaignState
    created_at: datetime
    targeted: int
    sent: int
    delivered: int
    clicked: int

    @property
    def click_through_rate(self) -> float | None:
        """Clicks per delivered message, or None before anything was delivered."""
        return self.clicked / self.delivered if self.delivered else None


class CampaignService:
    """The campaigns of one workspace."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    def create(self, definition: CampaignDefinition, actor: str) -> int:
        """Store a new draft campaign with one variant; returns its id."""
        now = self._clock.now()
        with self._db.transaction() as s:
            campaign = Campaign(
                name=definition.name, state=CampaignState.DRAFT.value, content=definition.content.to_dict(),
                audience=definition.audience.to_dict(), settings=dict(definition.settings), created_at=now,
                updated_at=now,
            )
            s.add(campaign)
            s.flush()
            s.add(Variant(campaign_id=campaign.id, name="A", content=definition.content.to_dict(), share=1.0))
            s.add(AuditEntry(at=now, actor=actor, action="campaign.create", subject_type="campaign",
                             subject_id=str(campaign.id), detail={"name": definition.name}))
            return campaign.id

    def content(self, campaign_id: int) -> PushContent:
        """The campaign's content."""
        with self._db.transaction() as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is None:
                raise ValidationError(f"there is no campaign {campaign_id} in this workspace", "campaign")
            return PushContent.from_dict(campaign.content)

    def audience_devices(self, campaign_id: int) -> list[int]:
        """Ids of every device the campaign addresses (consent and token validity are checked at send time)."""
        with self._db.transaction() as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is None:
                raise ValidationError(f"there is no campaign {campaign_id} in this workspace", "campaign")
            audience = Audience.from_dict(campaign.audience)
            query = select(Device.id).order_by(Device.id)
            if not audience.all_devices:
                query = query.join(User, User.id == Device.user_id).where(
                    User.external_id.in_(audience.external_ids)
                )
            return list(s.scalars(query))

    def list(self) -> list[CampaignSummary]:
        """Every campaign, newest first, with its delivery counts."""
        counts = (
            select(
                Delivery.campaign_id,
                func.count().label("targeted"),
                func.sum(case((Delivery.state.in_(_SENT_OR_LATER), 1), else_=0)).label("sent"),
                func.sum(case((Delivery.state.in_(_DELIVERED_OR_LATER), 1), else_=0)).label("delivered"),
                func.sum(case((Delivery.clicked_at.is_not(None), 1), else_=0)).label("clicked"),
            )
            .where(Delivery.kind == DeliveryKind.MESSAGE.value)
            .group_by(Delivery.campaign_id)
            .subquery()
        )
        query = (
            select(Campaign.id, Campaign.name, Campaign.state, Campaign.created_at, counts.c.targeted,
                   counts.c.sent, counts.c.delivered, counts.c.clicked)
            .outerjoin(counts, counts.c.campaign_id == Campaign.id)
            .order_by(Campaign.id.desc())
        )
        with self._db.transaction() as s:
            return [
                CampaignSummary(row.id, row.name, CampaignState(row.state), row.created_at, int(row.targeted or 0),
                                int(row.sent or 0), int(row.delivered or 0), int(row.clicked or 0))
                for row in s.execute(query)
            ]
