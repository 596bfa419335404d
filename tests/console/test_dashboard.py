"""The live dashboard: its big numbers follow the engine's events and the workspace's figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from console.bridge import EventBridge, SyncEngineHost
from console.campaigns.dashboard import DashboardPage
from console.theme import LIGHT
from core.campaigns.definition import Audience, CampaignDefinition
from core.campaigns.figures import CampaignFigures, CampaignTimeline, campaign_figures, campaign_timeline
from core.campaigns.service import CampaignService
from core.composer.content import PushContent
from core.domain import CampaignState, Provider
from core.events import EventBus
from core.persistence import Database
from core.persistence.models import Campaign, Delivery, Device, Event, User
from core.sending.outbox import DeliveryOutbox
from core.sending.progress import CampaignStateChanged, ProviderProgress

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class FiguresSession:
    """The two reads the dashboard makes, straight from the workspace."""

    db: Database

    def figures(self, campaign_id: int) -> CampaignFigures:
        return campaign_figures(self.db, campaign_id)

    def timeline(self, campaign_id: int) -> CampaignTimeline:
        return campaign_timeline(self.db, campaign_id)


def seed_campaign(db: Database, devices: int) -> int:
    with db.transaction() as s:
        for i in range(devices):
            user = User(external_id=f"u{i}", attributes={}, first_seen=T0, last_seen=T0)
            s.add(user)
            s.flush()
            s.add(Device(user_id=user.id, platform="android", provider="fcm", token=f"t{i}", registered_at=T0,
                         last_registered_at=T0))
    service = CampaignService(db)
    campaign_id = service.create(CampaignDefinition("Spring sale", PushContent(title="Sale", body="Now"),
                                                    Audience(all_devices=True)), actor="test")
    DeliveryOutbox(db).enqueue(campaign_id, service.audience_devices(campaign_id), now=T0)
    with db.transaction() as s:
        s.execute(update(Campaign).where(Campaign.id == campaign_id).values(state="sending", started_at=T0))
    return campaign_id


def advance(db: Database, campaign_id: int, sent: int, delivered: int, clicked: int) -> None:
    """Move the first rows on, as the sender and the devices' reports would."""
    with db.transaction() as s:
        rows = list(s.scalars(Delivery.__table__.select().where(Delivery.campaign_id == campaign_id)
                              .order_by(Delivery.id)))
        for n, delivery_id in enumerate(rows):
            values: dict[str, object] = {}
            if n < sent:
                values.update(state="sent", sent_at=T0 + timedelta(seconds=n % 3))
            if n < delivered:
                values.update(state="delivered", delivered_at=T0 + timedelta(seconds=1 + n % 3))
            if n < clicked:
                values.update(state="clicked", clicked_at=T0 + timedelta(seconds=2))
            if values:
                s.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def progress(sent: int) -> ProviderProgress:
    return ProviderProgress(Provider.FCM, T0, T0 + timedelta(seconds=1), claimed=sent, sent=sent)


def test_the_dashboard_counts_follow_the_engine_events(qtbot: QtBot, sqlite_db: Database) -> None:
    campaign_id = seed_campaign(sqlite_db, 10)
    bus = EventBus()
    bridge = EventBridge(bus)
    page = DashboardPage(SyncEngineHost(), FiguresSession(sqlite_db), LIGHT)
    qtbot.addWidget(page)
    bridge.progress.connect(page.on_progress)
    bridge.campaign_state.connect(page.on_campaign_state)
    page.show()
    page.show_campaign(campaign_id)
    assert page.title_label.text() == "Spring sale"
    assert page.cards["sent"].value.text() == "0"
    assert page.pause_button.isEnabled() and page.pause_button.text() == "Pause"

    advance(sqlite_db, campaign_id, sent=6, delivered=4, clicked=1)
    bus.publish(progress(6))
    assert page.cards["sent"].value.text() == "6"
    assert page.cards["sent"].detail.text() == "of 10 targeted"
    assert page.cards["delivered"].value.text() == "4"
    assert page.cards["clicked"].value.text() == "1"
    assert page.cards["clicked"].detail.text() == "CTR 25.0 %"
    assert page.progress.value() == 6 and page.progress.maximum() == 10

    with sqlite_db.transaction() as s:
        delivery_id = s.scalar(Delivery.__table__.select().where(Delivery.clicked_at.is_not(None)).with_only_columns(
            Delivery.id))
        user_id = s.scalar(User.__table__.select().with_only_columns(User.id).limit(1))
        s.add(Event(event_id="e1", user_id=user_id, name="purchase", properties={}, revenue=49.9,
                    delivery_id=delivery_id, occurred_at=T0, received_at=T0))
        s.execute(update(Campaign).where(Campaign.id == campaign_id).values(state="paused"))
    bus.publish(CampaignStateChanged(campaign_id, CampaignState.PAUSED, T0))
    assert page.cards["converted"].value.text() == "1"
    assert page.cards["revenue"].value.text() == "49.90"
    assert page.pause_button.text() == "Resume"
    bridge.close()


def test_a_finished_campaign_shows_its_history_as_curves(qtbot: QtBot, sqlite_db: Database) -> None:
    campaign_id = seed_campaign(sqlite_db, 9)
    advance(sqlite_db, campaign_id, sent=9, delivered=9, clicked=3)
    page = DashboardPage(SyncEngineHost(), FiguresSession(sqlite_db), LIGHT)
    qtbot.addWidget(page)
    page.show_campaign(campaign_id)
    x, y = page.curves["sent"].getData()
    assert list(x) == [0, 1, 2, 3] and list(y)[:3] == [3, 3, 3]
    assert sum(page.curves["clicked"].getData()[1]) == 3
