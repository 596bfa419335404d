"""The workspace store: SQLAlchemy models, Alembic migrations and opening a database."""

from core.persistence.database import Database, open_database, upgrade

__all__ = ["Database", "open_database", "upgrade"]
