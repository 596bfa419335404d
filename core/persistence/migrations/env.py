"""Alembic environment: migrates the engine handed over in ``config.attributes['engine']``.

Batch mode is on so that ALTERs work on SQLite too (it rebuilds the table).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from core.persistence.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run against a live connection (the only mode Herald uses)."""
    engine: Engine | None = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no engine or sqlalchemy.url given to the Alembic environment")
        engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise RuntimeError("Herald runs its migrations online only")
run_migrations_online()
