"""Alembic migrations of the workspace schema (run programmatically by ``core.persistence``)."""
