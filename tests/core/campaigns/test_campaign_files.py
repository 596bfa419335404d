"""Campaign files: what a good one creates, and what a bad one says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.campaigns.definition import load_definition
from core.campaigns.service import CampaignService
from core.domain import CampaignState
from core.errors import ConfigurationError
from core.persistence import Database
from core.persistence.models import AuditEntry, Device, User

T0 = datetime(2026, 3, 1, tzinfo=UTC)
GOOD = """
name = "Spring sale"
[content]
title = "Spring sale: 20% off"
body = "Only this weekend."
deep_link = "https://shop.example/sale"
buttons = [{label = "Shop now", link = "https://shop.example/sale"}]
[audience]
external_ids_file = "vip.txt"
external_ids = ["ana"]
[settings]
throttle_per_minute = 6000
"""


def write(tmp_path: Path, text: str, name: str = "campaign.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_parses_with_its_audience_file(tmp_path: Path) -> None:
    write(tmp_path, "bo\n\nana\ncem\n", "vip.txt")
    definition = load_definition(write(tmp_path, GOOD))
    assert definition.name == "Spring sale"
    assert definition.content.buttons[0].label == "Shop now"
    assert definition.audience.external_ids == ("ana", "bo", "cem")
    assert definition.settings["throttle_per_minute"] == 6000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\n[audience]\nall_devices = true\n', "content"),
        ('name = "x"\n[content]\nbody = "b"\n[audience]\n', "audience"),
        ('name = "x"\n[content]\ntitle = "t"\ncolour = "red"\n[audience]\nall_devices = true\n', "content.colour"),
        ('name = "x"\n[content]\ntitle = "t"\nttl_seconds = 99999999\n[audience]\nall_devices = true\n',
         "content.ttl_seconds"),
        ('name = "x"\n[content]\ntitle = "t"\n[audience]\nall_devices = true\n[settings]\nthrottle_per_minute = -1\n',
         "settings.throttle_per_minute"),
        ('name = "x"\n[content\n', "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=r"campaign\.toml") as info:
        load_definition(write(tmp_path, text))
    assert expected in str(info.value)


def test_create_lists_and_addresses_a_campaign(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        users = [User(external_id=e, attributes={}, first_seen=T0, last_seen=T0) for e in ("ana", "bo", "cem")]
        s.add_all(users)
        s.flush()
        for i, user in enumerate(users):
            s.add(Device(user_id=user.id, platform="android", provider="fcm", token=f"t{i}", registered_at=T0,
                         last_registered_at=T0))
    write(tmp_path, "bo\n", "vip.txt")
    service = CampaignService(db)
    campaign_id = service.create(load_definition(write(tmp_path, GOOD)), actor="ana@shop")
    assert len(service.audience_devices(campaign_id)) == 2
    [summary] = service.list()
    assert (summary.id, summary.name, summary.state, summary.targeted) == (
        campaign_id, "Spring sale", CampaignState.DRAFT, 0)
    assert summary.click_through_rate is None
    assert service.content(campaign_id).title == "Spring sale: 20% off"
    with db.transaction() as s:
        entry = s.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.subject_id) == ("ana@shop", "campaign.create", str(campaign_id))
