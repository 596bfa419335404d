"""Read-only questions the console asks about campaigns and audiences before it acts.

* ``audience_reach(db, audience)``: the devices an audience addresses now, counted per platform — the
  figure the send confirmation shows ("Send to 1,234 devices on the simulator profile?").
* ``audience_device_ids(db, audience)``: the same devices' ids, handed to ``SendEngine.start_campaign``.
* ``stored_definition(db, campaign_id)``: a campaign as a ``CampaignDefinition`` (to duplicate it).

Reach counts devices that can still receive a push (token valid, push enabled); consent is checked at send
time by the sender, as for every campaign.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, func, select

from core.campaigns.definition import Audience, CampaignDefinition
from core.composer.content import PushContent
from core.errors import ValidationError
from core.persistence import Database
from core.persistence.models import Campaign, Device, User


@dataclass(frozen=True, slots=True)
class Reach:
    """How many devices (and of which platforms) an audience addresses."""

    devices: int
    by_platform: dict[str, int] = field(default_factory=dict)


def _devices(audience: Audience) -> Select[int]:
    query = select(Device.id).where(Device.invalidated_at.is_(None), Device.push_enabled.is_(True))
    if not audience.all_devices:
        query = query.join(User, User.id == Device.user_id).where(User.external_id.in_(audience.external_ids))
    return query


def audience_reach(db: Database, audience: Audience) -> Reach:
    """Count the reachable devices ``audience`` addresses, per platform."""
    ids = _devices(audience).subquery()
    with db.transaction() as s:
        rows = s.execute(
            select(Device.platform, func.count()).where(Device.id.in_(select(ids.c.id))).group_by(Device.platform)
        ).all()
    by_platform = {str(platform): int(n) for platform, n in rows}
    return Reach(sum(by_platform.values()), by_platform)


def audience_device_ids(db: Database, audience: Audience) -> list[int]:
    """Ids of the reachable devices ``audience`` addresses, in id order."""
    with db.transaction() as s:
        return list(s.scalars(_devices(audience).order_by(Device.id)))


def stored_definition(db: Database, campaign_id: int) -> CampaignDefinition:
    """The campaign's name, content, audience and settings as a definition."""
    with db.transaction() as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise ValidationError(f"there is no campaign {campaign_id} in this workspace", "campaign")
        return CampaignDefinition(campaign.name, PushContent.from_dict(campaign.content),
                                  Audience.from_dict(campaign.audience), dict(campaign.settings))
