"""Composer: saved templates and campaign drafts, each with its versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.persistence.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('compositions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('latest_version', sa.Integer(), nullable=False),
    sa.Column('created_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('archived_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_compositions_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compositions')),
    sa.UniqueConstraint('kind', 'name', name='uq_compositions_kind_name')
    )
    with op.batch_alter_table('compositions', schema=None) as batch_op:
        batch_op.create_index('ix_compositions_campaign', ['campaign_id'], unique=False)

    op.create_table('composition_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('composition_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('saved_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('saved_by', sa.String(length=128), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['composition_id'], ['compositions.id'], name=op.f('fk_composition_versions_composition_id_compositions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_composition_versions')),
    sa.UniqueConstraint('composition_id', 'version', name='uq_composition_versions_composition_version')
    )


def downgrade() -> None:
    op.drop_table('composition_versions')
    with op.batch_alter_table('compositions', schema=None) as batch_op:
        batch_op.drop_index('ix_compositions_campaign')

    op.drop_table('compositions')
