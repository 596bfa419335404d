"""Fixtures for the sender: a manual clock, a scripted in-memory provider and a small workspace.

``ScriptedProvider`` is a unit-test fake: it answers each request from a script (by delivery id, one answer
per attempt; ``SendResult`` when the script has nothing more) and remembers what it was sent and when
(on the injected clock). The real providers are exercised against the simulator elsewhere.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import ManualClock
from core.domain import Provider
from core.events import EventBus
from core.persistence import Database
from core.persistence.bulk import DriverValues, insert_returning
from core.persistence.models import Campaign, Variant
from core.providers.base import ConnectionCheck, Outcome, PushRequest, SendResult

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

PLATFORM_OF = {Provider.FCM: "android", Provider.APNS: "ios", Provider.WEBPUSH: "web"}


@dataclass
class Sent:
    """One request the fake received."""

    at: float
    request: PushRequest


@dataclass
class ScriptedProvider:
    """A fake provider: scripted answers per delivery id, a log of what it received."""

    provider: Provider
    clock: ManualClock
    script: dict[int, list[Outcome]] = field(default_factory=lambda: defaultdict(list))
    answer: Callable[[PushRequest], Outcome | None] | None = None
    received: list[Sent] = field(default_factory=list)
    hang: asyncio.Event | None = None
    calls: int = 0

    def then(self, delivery_id: int, *outcomes: Outcome) -> None:
        """Answer the next attempts of ``delivery_id`` with ``outcomes``, in order."""
        self.script[delivery_id].extend(outcomes)

    async def send_batch(self, requests: Sequence[PushRequest]) -> list[Outcome]:
        self.calls += 1
        for r in requests:
            self.received.append(Sent(self.clock.monotonic(), r))
        if self.hang is not None:
            await self.hang.wait()
        await asyncio.sleep(0)
        out: list[Outcome] = []
        for r in requests:
            assert r.delivery_id is not None
            queued = self.script.get(r.delivery_id)
            if queued:
                out.append(queued.pop(0))
                continue
            custom = self.answer(r) if self.answer else None
            out.append(custom if custom is not None else SendResult(f"{self.provider}-{r.delivery_id}"))
        return out

    async def check_connection(self) -> ConnectionCheck:
        return ConnectionCheck(self.provider, True, "fake")

    async def aclose(self) -> None:
        return None

    def ids(self) -> list[int]:
        """Delivery ids received, in order (repeats included)."""
        return [s.request.delivery_id for s in self.received if s.request.delivery_id is not None]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


def add_campaign(db: Database, *, name: str = "Spring sale", state: str = "draft",
                 content: dict[str, Any] | None = None, settings: dict[str, Any] | None = None,
                 audience: dict[str, Any] | None = None) -> int:
    """A campaign with one variant "A"; returns its id."""
    content = content or {"title": "Spring sale", "body": "20% off this weekend"}
    with db.transaction() as s:
        campaign = Campaign(name=name, state=state, content=content, audience=audience or {"all_devices": True},
                            settings=settings or {}, created_at=T0, updated_at=T0)
        s.add(campaign)
        s.flush()
        s.add(Variant(campaign_id=campaign.id, name="A", content=content, share=1.0))
        return campaign.id


def add_devices(db: Database, count: int, providers: Iterable[Provider] = (Provider.FCM,),
                *, consent: bool = True, prefix: str = "u") -> list[int]:
    """``count`` users with one device each, providers in turn; returns the device ids."""
    values = DriverValues(db.backend)
    at = values.instant(T0)
    mix = list(providers)
    with db.transaction() as s:
        users = insert_returning(
            s, "users", ("external_id", "attributes", "marketing_consent", "first_seen", "last_seen"),
            [(f"{prefix}{i}", "{}", consent, at, at) for i in range(count)], "(external_id) DO NOTHING", "id",
        )
        rows = []
        for i, (user_id,) in enumerate(sorted(users)):
            provider = mix[i % len(mix)]
            subscription = None
            if provider is Provider.WEBPUSH:
                endpoint = f"https://push{i % 2}.example/{prefix}{i}"
                subscription = values.json({"endpoint": endpoint, "keys": {"p256dh": "k", "auth": "a"}})
            token = endpoint if provider is Provider.WEBPUSH else f"tok-{prefix}{i}"
            rows.append((user_id, PLATFORM_OF[provider], provider.value, token, subscription, True, at, at))
        found = insert_returning(
            s, "devices", ("user_id", "platform", "provider", "token", "subscription", "push_enabled",
                           "registered_at", "last_registered_at"),
            rows, "(provider, token) DO NOTHING", "id",
        )
    return sorted(r[0] for r in found)
