"""Backfilling a synthetic population's history into Herald through the SDK ingest API.

``backfill(users, herald_url, sdk_key, progress)`` streams each user's history (``population.history``) in
batches of up to 1,000 events with a few requests in flight, retrying connection errors, 408, 429 and 5xx
with backoff and Retry-After; any other refusal raises ``BackfillFailed`` with Herald's reason. Event ids are
deterministic, so a re-run counts duplicates instead of adding rows.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from simulator.population import Event, SyntheticUser, history
from simulator.reporter import EVENTS_PATH

#: Called with (users done, users in all) as the backfill goes.
BackfillProgress = Callable[[int, int], None]


class BackfillFailed(RuntimeError):
    """Herald refused a batch outright (wrong key, malformed batch) or stayed away past every retry."""


@dataclass(slots=True)
class BackfillResult:
    """What the backfill did: users and events sent, and Herald's answers to them."""

    users: int = 0
    events: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    #: The first rejected events as {"id", "error"}.
    rejections: list[dict[str, Any]] = field(default_factory=list)


def batches(users: Iterable[SyntheticUser], size: int) -> Iterator[tuple[list[Event], int]]:
    """Consecutive users' histories cut into batches of ``size``, each with how many users it completes."""
    batch: list[Event] = []
    completed = 0
    for user in users:
        events = history(user)
        start = 0
        while True:
            room = size - len(batch)
            batch.extend(events[start:start + room])
            start += room
            finished = start >= len(events)
            completed += finished
            if len(batch) == size:
                yield batch, completed
                batch, completed = [], 0
            if finished:
                break
    if batch or completed:
        yield batch, completed


_TRANSIENT = frozenset({408, 429})


class _Backfill:
    """Posts batches with a bounded number in flight and retries what is worth retrying."""

    def __init__(self, client: httpx.AsyncClient, total: int, progress: BackfillProgress | None,
                 max_attempts: int, base_backoff: float, max_backoff: float) -> None:
        self.client = client
        self.total = total
        self.progress = progress
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.result = BackfillResult()

    async def send(self, batch: list[Event], completed: int, slot: asyncio.Semaphore) -> None:
        try:
            if batch:
                self._record(batch, await self._post(orjson.dumps({"events": batch})))
            self.result.users += completed
            if self.progress is not None:
                self.progress(self.result.users, self.total)
        finally:
            slot.release()

    async def _post(self, body: bytes) -> dict[str, Any]:
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            hint: float | None = None
            try:
                response = await self.client.post(EVENTS_PATH, content=body)
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 400:
                    answer: dict[str, Any] = response.json()
                    return answer
                error = f"HTTP {status}: {response.text[:200]}"
                if status < 500 and status not in _TRANSIENT:
                    raise BackfillFailed(f"Herald refused a batch of events: {error}")
                hint = _retry_after(response)
            if attempt < self.max_attempts:
                self.result.retries += 1
                await asyncio.sleep(self._delay(attempt, hint))
        raise BackfillFailed(f"gave up after {self.max_attempts} attempts: {error}")

    def _delay(self, attempt: int, hint: float | None) -> float:
        delay = min(self.max_backoff, self.base_backoff * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        return max(delay, min(hint, self.max_backoff)) if hint is not None else delay

    def _record(self, batch: list[Event], answer: dict[str, Any]) -> None:
        r = self.result
        r.batches += 1
        r.events += len(batch)
        r.accepted += int(answer.get("accepted", 0))
        r.duplicates += int(answer.get("duplicates", 0))
        rejected = answer.get("rejected") or []
        r.rejected += len(rejected)
        for item in rejected[: max(0, 20 - len(r.rejections))]:
            index = item.get("index")
            event_id = batch[index]["id"] if isinstance(index, int) and 0 <= index < len(batch) else None
            r.rejections.append({"id": event_id, "error": item.get("error")})


def _retry_after(response: httpx.Response) -> float | None:
    hint = response.headers.get("retry-after", "")
    return float(hint) if hint.replace(".", "", 1).isdigit() else None


async def backfill(
    users: Sequence[SyntheticUser],
    herald_url: str,
    sdk_key: str,
    progress: BackfillProgress | None = None,
    *,
    batch_size: int = 1000,
    concurrency: int = 4,
    max_attempts: int = 8,
    base_backoff: float = 0.5,
    max_backoff: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BackfillResult:
    """Post every user's history to ``{herald_url}/sdk/v1/events``; raises ``BackfillFailed`` on a refusal.

    Histories are generated as batches are needed, so memory stays at ``concurrency`` batches.
    """
    if not 1 <= batch_size <= 1000:
        raise ValueError("Herald takes 1 to 1,000 events a batch")
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=herald_url.rstrip("/"), transport=transport, timeout=httpx.Timeout(60.0, connect=5.0),
        headers={"X-Herald-Key": sdk_key, "Content-Type": "application/json"},
        limits=httpx.Limits(max_connections=concurrency),
    ) as client:
        run = _Backfill(client, len(users), progress, max_attempts, base_backoff, max_backoff)
        try:
            async with asyncio.TaskGroup() as group:
                for batch, completed in batches(users, batch_size):
                    await slots.acquire()
                    group.create_task(run.send(batch, completed, slots))
        except BaseExceptionGroup as failures:
            refused = failures.subgroup(BackfillFailed)
            if refused is None:
                raise
            raise refused.exceptions[0] from None
    return run.result

