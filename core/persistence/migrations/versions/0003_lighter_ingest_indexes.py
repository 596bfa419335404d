"""Lighter indexes on the ingest hot path: no index on users.last_seen, a partial index on events.delivery_id.

Every event upserts its user (widening first/last seen) and inserts one row; each index on those rows is
maintained per event. ``users.last_seen`` is read by segment queries that scan users anyway, and only push
lifecycle events carry a delivery id, so that index keeps just those rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_last_seen")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_delivery")
        batch_op.create_index(
            "ix_events_delivery", ["delivery_id"], unique=False,
            sqlite_where=sa.text("delivery_id IS NOT NULL"), postgresql_where=sa.text("delivery_id IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_delivery")
        batch_op.create_index("ix_events_delivery", ["delivery_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_last_seen", ["last_seen"], unique=False)
