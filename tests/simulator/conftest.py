"""Fixtures for the protocol-service tests: a recording ``PushSink`` and running services on loopback.

The services run in a ``ServicesThread`` (their own loop), so synchronous clients (``webpush()``,
``messaging.send``) and google-auth's blocking token refresh inside firebase-admin's async client can talk to
them. Async clients run on one ``asyncio.Runner`` per test: firebase-admin binds its client to one loop.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.credentials import b64url, b64url_decode, load_or_create_credentials
from simulator.inbound import Acceptance, AcceptanceStatus, InboundPush, WebPushKeys
from simulator.profile import SimulatorProfile
from simulator.services import ServicesThread, SimulatorServices


class RecordingSink:
    """A ``PushSink`` that records every push; tokens answer ACCEPTED unless told otherwise."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pushes: list[InboundPush] = []
        self.statuses: dict[str, AcceptanceStatus] = {}
        self.unregistered_at: dict[str, datetime] = {}
        self.subscriptions: dict[str, WebPushKeys] = {}

    def accept(self, push: InboundPush) -> Acceptance:
        status = self.statuses.get(push.token, AcceptanceStatus.ACCEPTED)
        if status is AcceptanceStatus.ACCEPTED:
            with self._lock:
                self.pushes.append(push)
        return Acceptance(status, self.unregistered_at.get(push.token))

    def webpush_keys(self, subscription_id: str) -> WebPushKeys | None:
        return self.subscriptions.get(subscription_id)

    def to(self, token: str) -> list[InboundPush]:
        """The pushes accepted for one token, in arrival order."""
        with self._lock:
            return [p for p in self.pushes if p.token == token]


@dataclass(frozen=True)
class Subscription:
    """A browser-side Web Push subscription, as pywebpush takes it."""

    id: str
    info: dict[str, object]


def subscribe(sink: RecordingSink, profile: SimulatorProfile, *, server_key: str | None = None) -> Subscription:
    """Make a P-256 subscription bound to the profile's VAPID key (or ``server_key``) and register it."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    auth = secrets.token_bytes(16)
    sub_id = secrets.token_urlsafe(16)
    sink.subscriptions[sub_id] = WebPushKeys(
        private_key=key.private_numbers().private_value.to_bytes(32, "big"),
        public_key=public,
        auth_secret=auth,
        application_server_key=b64url_decode(server_key or profile.vapid_public_key),
    )
    info: dict[str, object] = {
        "endpoint": profile.webpush_endpoint(sub_id),
        "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
    }
    return Subscription(sub_id, info)


@pytest.fixture(scope="session")
def credential_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Credential files generated once per session (RSA generation is slow), copied into each test."""
    path = tmp_path_factory.mktemp("credentials")
    load_or_create_credentials(path)
    return path


@pytest.fixture
def state_dir(tmp_path: Path, credential_template: Path) -> Path:
    target = tmp_path / "state"
    shutil.copytree(credential_template, target)
    return target


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def running(sink: RecordingSink, state_dir: Path) -> Iterator[ServicesThread]:
    """The services, started in their own thread; stopped (thread joined) after the test."""
    thread = ServicesThread(sink, state_dir, seed=1)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def profile(running: ServicesThread) -> SimulatorProfile:
    return _services(running).profile


@pytest.fixture
def services(running: ServicesThread) -> SimulatorServices:
    return _services(running)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for all async client calls of a test."""
    with asyncio.Runner() as loop_runner:
        yield loop_runner


def _services(running: ServicesThread) -> SimulatorServices:
    assert running.services is not None
    return running.services
