"""Suite-wide fixtures: offscreen Qt, a thread-leak guard, and workspace databases on SQLite and PostgreSQL.

PostgreSQL is found through one variable, ``HERALD_TEST_PG`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``); each test gets its own schema there, dropped afterwards.
Without the variable the PostgreSQL half of every persistence test is skipped with a reason that says so.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from core.persistence import Database, open_database

PG_ENV = "HERALD_TEST_PG"


def pytest_report_header(config: pytest.Config) -> str:
    pg = os.environ.get(PG_ENV)
    return f"PostgreSQL tests: {'on, ' + pg if pg else 'SKIPPED (set ' + PG_ENV + ' to a server URL)'}"


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running after it returns (a second of grace for joins)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 1.0
    while True:
        leaked = [
            t for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(_IGNORED_THREAD_PREFIXES)
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


#: Threads owned by libraries for the life of the process, not by a test.
_IGNORED_THREAD_PREFIXES = ("QDBusConnection",)


def _sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/workspace.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A URL to an empty workspace database: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path)
        return
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"PostgreSQL half skipped: set {PG_ENV}=postgresql://user@host:port/db to run it")
    server = server.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in server else "?"
    try:
        yield f"{server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An opened, migrated workspace on each backend."""
    database = open_database(db_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: object) -> Iterator[Database]:
    """An opened, migrated SQLite workspace, for tests that need not run on both backends."""
    database = open_database(_sqlite_url(tmp_path))
    try:
        yield database
    finally:
        database.dispose()
