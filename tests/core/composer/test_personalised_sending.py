"""Personalised campaigns through the engine: contexts in bulk per batch, strict errors before anything is queued."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from core.clock import ManualClock
from core.composer.links import LinkPolicy
from core.composer.personalise import PersonalisationError, Personaliser
from core.composer.recipients import RecipientDirectory
from core.domain import Provider
from core.events import EventBus
from core.persistence import Database
from core.persistence.models import Delivery, Device, Event, User
from core.providers.base import ApnsRequest, FcmRequest, WebPushRequest
from core.sending.engine import SendEngine
from tests.core.sending.conftest import T0, ScriptedProvider, add_campaign, add_devices

TEMPLATE = {
    "title": "Hi {{ first_name | default: 'there' }}",
    "body": "{{ recent.last_viewed_product | default: 'Something' }} is waiting — cart {{ recent.cart_value }} €",
    "deep_link": "https://shop.example/u/{{ user.external_id }}",
    "locales": {"fr": {"title": "Bonjour {{ first_name | default: 'à vous' }}"}},
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def give(db: Database, external_id: str, *, attributes: dict[str, Any] | None = None, locale: str | None = None,
         events: list[tuple[str, dict[str, Any], float | None, timedelta]] = ()) -> None:  # type: ignore[assignment]
    with db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == external_id)).one()
        if attributes is not None:
            user.attributes = attributes
        user.locale = locale
        for i, (name, props, revenue, ago) in enumerate(events):
            s.add(Event(event_id=f"{external_id}-{i}", user_id=user.id, name=name, properties=props, revenue=revenue,
                        occurred_at=T0 - ago, received_at=T0))


def engine_for(db: Database, clock: ManualClock, providers: dict[Provider, ScriptedProvider],
               personaliser: Personaliser | None) -> SendEngine:
    return SendEngine(db, providers, clock, EventBus(), personalise=personaliser)  # type: ignore[arg-type]


def texts(request: Any) -> tuple[str, str]:
    if isinstance(request, FcmRequest):
        note = request.message["notification"]
        return note["title"], note["body"]
    document = orjson.loads(request.payload)
    if isinstance(request, ApnsRequest):
        return document["aps"]["alert"]["title"], document["aps"]["alert"]["body"]
    assert isinstance(request, WebPushRequest)
    return document["title"], document["body"]


@pytest.mark.asyncio
async def test_each_recipient_gets_their_own_message(db: Database, clock: ManualClock) -> None:
    add_devices(db, 6, (Provider.FCM, Provider.APNS, Provider.WEBPUSH))
    give(db, "u0", attributes={"first_name": "Ana"}, events=[
        ("view_item", {"product_id": "Red shoes", "price": 59.0}, None, timedelta(hours=3)),
        ("add_to_cart", {"product_id": "Red shoes", "cart_value": 59.0, "items": 1}, None, timedelta(hours=2))])
    give(db, "u1", attributes={"first_name": "Léa"}, locale="fr_FR")
    give(db, "u2", events=[("add_to_cart", {"cart_value": 20.0}, None, timedelta(days=2)),
                           ("purchase", {}, 20.0, timedelta(days=1))])
    campaign = add_campaign(db, content=TEMPLATE)
    providers = {p: ScriptedProvider(p, clock) for p in Provider}
    directory = RecipientDirectory(db, clock)
    personaliser = Personaliser(directory=directory, links=LinkPolicy())
    engine = engine_for(db, clock, providers, personaliser)
    await engine.start_campaign(campaign)
    summary = await engine.run_until_idle()
    await engine.aclose()
    assert summary.sent == 6
    got = {r.request.delivery_id: texts(r.request) for p in providers.values() for r in p.received}
    with db.transaction() as s:
        rows = s.execute(select(Delivery.id, User.external_id).join(Device, Device.id == Delivery.device_id)
                         .join(User, User.id == Device.user_id)).all()
    by_user = {external_id: got[delivery_id] for delivery_id, external_id in rows}
    assert by_user["u0"] == ("Hi Ana", "Red shoes is waiting — cart 59.0 €")
    assert by_user["u1"] == ("Bonjour Léa", "Something is waiting — cart 0 €")
    assert by_user["u2"] == ("Hi there", "Something is waiting — cart 0 €")  # bought since: no open cart
    # Two queries per claimed batch (devices + users, recent behaviour) plus the check before queueing.
    assert directory.queries <= 2 * (3 + 1)


@pytest.mark.asyncio
async def test_an_undefined_variable_stops_the_campaign_before_anything_is_queued(db: Database,
                                                                                  clock: ManualClock) -> None:
    add_devices(db, 3, (Provider.APNS,))
    give(db, "u1", attributes={"first_name": "Bo"})
    campaign = add_campaign(db, content={"title": "Hi {{ first_name }}", "body": "b"})
    providers = {Provider.APNS: ScriptedProvider(Provider.APNS, clock)}
    engine = engine_for(db, clock, providers, Personaliser(db, links=LinkPolicy()))
    with pytest.raises(PersonalisationError) as caught:
        await engine.start_campaign(campaign)
    await engine.aclose()
    error = caught.value
    assert (error.failed, error.checked) == (2, 3)
    assert "title, line 1, column 7: 'first_name' is undefined for user u0 (device" in str(error)
    assert "nothing was sent" in str(error)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
    assert providers[Provider.APNS].received == []


@pytest.mark.asyncio
async def test_without_a_personaliser_a_personalised_campaign_is_refused(db: Database, clock: ManualClock) -> None:
    add_devices(db, 1, (Provider.FCM,))
    campaign = add_campaign(db, content={"title": "Hi {{ first_name }}", "body": "b"})
    engine = engine_for(db, clock, {Provider.FCM: ScriptedProvider(Provider.FCM, clock)}, None)
    with pytest.raises(Exception, match="personalised"):
        await engine.start_campaign(campaign)
    await engine.aclose()


def test_recent_behaviour_is_loaded_in_two_queries_for_a_whole_batch(db: Database, clock: ManualClock) -> None:
    ids = add_devices(db, 40, (Provider.FCM,))
    for i in range(0, 40, 2):
        give(db, f"u{i}", attributes={"first_name": f"N{i}", "tier": "gold"}, events=[
            ("view_item", {"product_id": f"old-{i}"}, None, timedelta(days=5)),
            ("view_item", {"product_id": f"p-{i}", "category": "shoes"}, None, timedelta(hours=1)),
            ("view_item", {"product_id": "too old"}, None, timedelta(days=90))])
    directory = RecipientDirectory(db, clock)
    contexts = directory.load(ids)
    assert directory.queries == 2 and len(contexts) == 40
    first = contexts[ids[0]].variables
    assert first["first_name"] == "N0" and first["user"]["attributes"]["tier"] == "gold"
    assert first["recent"]["last_viewed_product"] == "p-0" and first["recent"]["last_viewed_category"] == "shoes"
    assert first["device"]["platform"] == "android" and first["user"]["external_id"] == "u0"
    assert "last_viewed_product" not in contexts[ids[1]].variables["recent"]
