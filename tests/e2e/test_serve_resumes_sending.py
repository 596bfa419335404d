"""A campaign left half-sent resumes by itself when ``herald serve`` starts (its sending companion)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.campaigns.definition import parse_definition
from core.campaigns.service import CampaignService
from core.collector.server import BackgroundIngestServer, build_ingest_app
from core.domain import CampaignState, Platform
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Device
from core.sending.outbox import DeliveryOutbox
from core.sending.service import resume_sending
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread

KEY = "hk_resume"


@pytest.fixture
def simulator(sqlite_db: Database, tmp_path: Path) -> Iterator[RuntimeInfo]:
    server = BackgroundIngestServer(build_ingest_app(sqlite_db, KEY))
    url = server.start().url
    thread = RuntimeThread(tmp_path / "sim", RuntimeOptions(
        devices=30, seed=5, herald_url=url, sdk_key=KEY, mix={Platform.ANDROID: 1, Platform.IOS: 1, Platform.WEB: 1}))
    info = thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sqlite_db.transaction() as s:
                if s.scalar(select(func.count()).select_from(Device)) == 30:
                    break
            time.sleep(0.05)
        yield info
    finally:
        thread.stop()
        server.stop()


def test_serve_resumes_an_unfinished_campaign(simulator: RuntimeInfo, sqlite_db: Database, tmp_path: Path) -> None:
    service = CampaignService(sqlite_db)
    campaign_id = service.create(parse_definition({
        "name": "Left half-sent", "content": {"title": "Back soon", "body": "Resumed by serve"},
        "audience": {"all_devices": True}}), actor="qa")
    outbox = DeliveryOutbox(sqlite_db)
    outbox.enqueue(campaign_id, service.audience_devices(campaign_id), now=datetime.now(UTC))
    with sqlite_db.transaction() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.state = CampaignState.SENDING.value  # as a sender that died right after enqueueing leaves it

    companion = resume_sending(sqlite_db, None, tmp_path / "sim")
    assert companion is not None

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(companion(stop))
        for _ in range(600):
            with sqlite_db.transaction() as s:
                state = s.scalar(select(Campaign.state).where(Campaign.id == campaign_id))
            if state == CampaignState.COMPLETED.value:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(run())
    with sqlite_db.transaction() as s:
        states = dict(s.execute(select(Delivery.state, func.count()).where(Delivery.campaign_id == campaign_id)
                                .group_by(Delivery.state)).all())
        assert s.scalar(select(Campaign.state).where(Campaign.id == campaign_id)) == CampaignState.COMPLETED.value
    assert sum(states.values()) == 30
    assert not set(states) & {"queued", "claimed", "retry_wait"}
