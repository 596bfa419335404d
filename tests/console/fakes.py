"""A fake console session for screen tests: answers like ``ConsoleSession`` without an engine or threads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.campaigns.definition import Audience, CampaignDefinition
from core.campaigns.queries import Reach
from core.campaigns.service import CampaignSummary
from core.composer.content import PushContent
from core.domain import CampaignState
from core.sending.engine import StartResult

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def summary(id: int, name: str, state: CampaignState, targeted: int = 0, sent: int = 0, delivered: int = 0,
            clicked: int = 0) -> CampaignSummary:
    """One campaign row."""
    return CampaignSummary(id, name, state, T0, targeted, sent, delivered, clicked)


@dataclass
class FakeSession:
    """Records what the screens ask for; answers with canned values."""

    rows: list[CampaignSummary] = field(default_factory=list)
    reach_devices: int = 1234
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def campaigns(self) -> list[CampaignSummary]:
        return list(self.rows)

    def definition(self, campaign_id: int) -> CampaignDefinition:
        return CampaignDefinition("Spring sale", PushContent(title="Spring sale", body="20% off"),
                                  Audience(all_devices=True))

    def reach(self, audience: Audience) -> Reach:
        self.calls.append(("reach", audience))
        if audience.all_devices:
            return Reach(self.reach_devices, {"android": 700, "ios": 400, "web": self.reach_devices - 1100})
        return Reach(len(audience.external_ids), {"android": len(audience.external_ids)})

    async def send(self, campaign_id: int, audience: Audience, fast: bool = False) -> StartResult:
        self.calls.append(("send", (campaign_id, audience, fast)))
        return StartResult(campaign_id, self.reach_devices, self.reach_devices, fast)

    def duplicate_campaign(self, campaign_id: int) -> int:
        self.calls.append(("duplicate", campaign_id))
        original = next(r for r in self.rows if r.id == campaign_id)
        new_id = max(r.id for r in self.rows) + 1
        self.rows.append(summary(new_id, f"{original.name} (copy)", CampaignState.DRAFT))
        return new_id

    async def pause(self, campaign_id: int) -> None:
        self.calls.append(("pause", campaign_id))

    async def resume(self, campaign_id: int) -> None:
        self.calls.append(("resume", campaign_id))

    async def cancel(self, campaign_id: int) -> int:
        self.calls.append(("cancel", campaign_id))
        return 0
