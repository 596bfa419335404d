"""An ingest API served for real by uvicorn on loopback, over each database backend."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from core.clock import ManualClock
from core.collector.app import IngestApp
from core.collector.ingest import IngestService
from core.collector.server import BackgroundIngestServer
from core.persistence import Database

KEY = "hk_test_key"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def api(db: Database, clock: ManualClock) -> Iterator[httpx.Client]:
    """An httpx client on a live ingest server (64 KiB body limit) with the right SDK key."""
    app = IngestApp(IngestService(db, clock), KEY, max_body=64 * 1024)
    server = BackgroundIngestServer(app)
    address = server.start()
    with httpx.Client(base_url=address.url, headers={"X-Herald-Key": KEY}, timeout=10) as client:
        yield client
    server.stop()
