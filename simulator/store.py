"""The fleet's memory across restarts: devices, retired tokens and fleet settings in one SQLite file.

``DeviceStore`` keeps ``devices.sqlite3`` in the simulator's state directory (WAL mode). It holds what makes
a device the same device after a restart: its address (token, or Web Push subscription id with the key pair,
auth secret and application server key), owner, locale, time zone, app version, online, installed,
push-permission and install generation; plus every retired address with the time it stopped working, so an
old token keeps answering "unregistered" rather than "unknown". Trays and pending queues are not kept: a
restart is a reboot, and a rebooted phone's tray is empty too.

Saving is incremental: the fleet passes only new and changed devices, written as upserts in one
transaction. Loading reads everything in one pass (100,000 devices in about a second) and shares repeated
strings and the application server key between devices to keep memory small.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from core.domain import Platform, Provider
from simulator.device import RetiredAddress, VirtualDevice, WebPushSubscription
from simulator.inbound import WebPushKeys

FILE_NAME = "devices.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    provider TEXT NOT NULL,
    user TEXT NOT NULL,
    locale TEXT NOT NULL,
    timezone TEXT NOT NULL,
    app_version TEXT NOT NULL,
    token TEXT,
    sub_id TEXT,
    sub_private BLOB,
    sub_public BLOB,
    sub_auth BLOB,
    sub_server_key BLOB,
    online INTEGER NOT NULL,
    installed INTEGER NOT NULL,
    uninstalled_at REAL,
    push_enabled INTEGER NOT NULL,
    generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS retired (
    provider TEXT NOT NULL,
    address TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    at REAL NOT NULL,
    sub_private BLOB,
    sub_public BLOB,
    sub_auth BLOB,
    sub_server_key BLOB,
    PRIMARY KEY (provider, address)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_DEVICE_COLUMNS = (
    "id, platform, provider, user, locale, timezone, app_version, token, sub_id, sub_private, sub_public, "
    "sub_auth, sub_server_key, online, installed, uninstalled_at, push_enabled, generation"
)
_DeviceRow = tuple[
    int, str, str, str, str, str, str, str | None, str | None, bytes | None, bytes | None, bytes | None,
    bytes | None, int, int, float | None, int, int,
]
_RetiredRow = tuple[str, str, int, float, bytes | None, bytes | None, bytes | None, bytes | None]


class DeviceStore:
    """Devices of one simulator state directory, in SQLite; safe to call from any one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, state_dir: Path) -> DeviceStore:
        """The store of the state directory ``state_dir`` (created when missing)."""
        return cls(Path(state_dir) / FILE_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM devices").fetchone()[0])

    def save(self, devices: Iterable[VirtualDevice], retired: Iterable[RetiredAddress] = ()) -> int:
        """Upsert ``devices`` and add ``retired`` addresses in one transaction; returns rows written."""
        rows = [_device_row(d) for d in devices]
        old = [_retired_row(r) for r in retired]
        if not rows and not old:
            return 0
        marks = ", ".join("?" * 18)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO devices ({_DEVICE_COLUMNS}) VALUES ({marks})", rows
                )
                self._db.executemany("INSERT OR REPLACE INTO retired VALUES (?, ?, ?, ?, ?, ?, ?, ?)", old)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows) + len(old)

    def load(self) -> tuple[list[VirtualDevice], list[RetiredAddress]]:
        """Every stored device (in id order) and every retired address."""
        shared: dict[object, object] = {}
        with self._lock:
            rows: list[_DeviceRow] = self._db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id"
            ).fetchall()
            old: list[_RetiredRow] = self._db.execute("SELECT * FROM retired").fetchall()
        devices = [_device(row, shared) for row in rows]
        retired = [
            RetiredAddress(
                Provider(r[0]), r[1], r[2], _time(r[3]), _subscription(r[1], r[4], r[5], r[6], r[7], shared)
            )
            for r in old
        ]
        return devices, retired


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _keys(sub: WebPushSubscription | None) -> tuple[bytes | None, ...]:
    if sub is None:
        return (None, None, None, None)
    k = sub.keys
    return (k.private_key, k.public_key, k.auth_secret, k.application_server_key)


def _device_row(d: VirtualDevice) -> tuple[object, ...]:
    sub = d.subscription
    return (
        d.id, d.platform.value, d.provider.value, d.user, d.locale, d.timezone, d.app_version, d.token,
        None if sub is None else sub.id, *_keys(sub), int(d.online), int(d.installed),
        None if d.uninstalled_at is None else d.uninstalled_at.timestamp(), int(d.push_enabled), d.generation,
    )


def _retired_row(r: RetiredAddress) -> tuple[object, ...]:
    return (r.provider.value, r.address, r.device_id, r.at.timestamp(), *_keys(r.subscription))


def _share(value: object, shared: dict[object, object]) -> object:
    return shared.setdefault(value, value)


def _subscription(
    sub_id: str | None,
    private: bytes | None,
    public: bytes | None,
    auth: bytes | None,
    server_key: bytes | None,
    shared: dict[object, object],
) -> WebPushSubscription | None:
    if sub_id is None or private is None or public is None or auth is None or server_key is None:
        return None
    server = shared.setdefault(server_key, server_key)
    assert isinstance(server, bytes)
    return WebPushSubscription(sub_id, WebPushKeys(private, public, auth, server))


_PLATFORMS = {p.value: p for p in Platform}
_PROVIDERS = {p.value: p for p in Provider}


def _device(row: _DeviceRow, shared: dict[object, object]) -> VirtualDevice:
    (ident, platform, provider, user, locale, tz, version, token, sub_id, private, public, auth, server,
     online, installed, uninstalled_at, push_enabled, generation) = row
    return VirtualDevice(
        id=ident,
        platform=_PLATFORMS[platform],
        provider=_PROVIDERS[provider],
        user=user,
        locale=str(_share(locale, shared)),
        timezone=str(_share(tz, shared)),
        app_version=str(_share(version, shared)),
        token=token,
        subscription=_subscription(sub_id, private, public, auth, server, shared),
        online=bool(online),
        installed=bool(installed),
        uninstalled_at=None if uninstalled_at is None else _time(uninstalled_at),
        push_enabled=bool(push_enabled),
        generation=generation,
    )
