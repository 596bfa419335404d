"""Opening a workspace database: engine set-up per backend and automatic migrations.

SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL goes through psycopg 3. Both are migrated to
the newest Alembic revision when opened, so a user never runs a migration by hand (``db upgrade`` exists for
operators who want to do it explicitly).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigurationError, StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _normalise_url(url: str) -> str:
    """Let users write ``postgresql://`` and get the psycopg 3 driver Herald ships with."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_workspace_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with Herald's per-backend settings; raises ConfigurationError on a bad URL."""
    url = _normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"Cannot understand the database URL {url!r}: {exc}. "
            "Use e.g. sqlite:///path/workspace.db or postgresql://user@host:5432/dbname."
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(f"Herald supports SQLite and PostgreSQL, not {backend!r} ({url}).")
    options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = create_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates ``engine`` with Herald's own scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration revision Herald ships."""
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest revision; raises StoreError with the reason when it cannot."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except OperationalError as exc:
        raise StoreError(
            f"Cannot open or migrate the workspace database at {engine.url.render_as_string()}: "
            f"{exc.orig}. Check that the server is running and the URL is right."
        ) from exc


@dataclass
class Database:
    """An opened, migrated workspace database and a session factory over it."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True, **engine_kwargs: Any) -> Database:
    """Open the workspace at ``url``, migrating it to the newest schema unless ``migrate`` is False."""
    engine = create_workspace_engine(url, **engine_kwargs)
    if migrate:
        upgrade(engine)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
