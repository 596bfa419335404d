"""Initial workspace schema: users, devices, events, campaigns, outbox, audit log.

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.persistence.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('attribute_definitions',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('created_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_attribute_definitions'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_subject', ['subject_type', 'subject_id'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('created_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('scheduled_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('started_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('completed_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index('ix_campaigns_state', ['state'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('locale', sa.String(length=35), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('location_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('marketing_consent', sa.Boolean(), nullable=False),
    sa.Column('consent_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('consent_source', sa.String(length=64), nullable=True),
    sa.Column('first_seen', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('last_seen', core.persistence.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('external_id', name=op.f('uq_users_external_id'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_last_seen', ['last_seen'], unique=False)

    op.create_table('workspace_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_workspace_settings'))
    )
    op.create_table('devices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('subscription', sa.JSON(), nullable=True),
    sa.Column('app_version', sa.String(length=32), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('push_enabled', sa.Boolean(), nullable=False),
    sa.Column('registered_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('last_registered_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('invalidated_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('invalid_reason', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_devices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('provider', 'token', name='uq_devices_provider_token')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index('ix_devices_platform_valid', ['platform', 'invalidated_at'], unique=False)
        batch_op.create_index('ix_devices_user_id', ['user_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('revenue', sa.Float(), nullable=True),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('occurred_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('received_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_events_event_id'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_delivery', ['delivery_id'], unique=False)
        batch_op.create_index('ix_events_name_time', ['name', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_user_time', ['user_id', 'occurred_at'], unique=False)

    op.create_table('variants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('is_control', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_variants_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_variants')),
    sa.UniqueConstraint('campaign_id', 'name', name='uq_variants_campaign_name')
    )
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('provider_message_id', sa.String(length=256), nullable=True),
    sa.Column('error_class', sa.String(length=32), nullable=True),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('next_attempt_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('queued_at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('sent_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('failed_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('displayed_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('clicked_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('dismissed_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('recalled_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', core.persistence.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_deliveries_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_deliveries_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_deliveries_variant_id_variants'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('campaign_id', 'device_id', 'kind', name='uq_deliveries_campaign_device_kind')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_campaign_state', ['campaign_id', 'state'], unique=False)
        batch_op.create_index('ix_deliveries_claim', ['provider', 'state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_deliveries_device', ['device_id'], unique=False)

    op.create_table('delivery_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('at', core.persistence.types.UTCDateTime(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_delivery_events_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events'))
    )
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_events_delivery', ['delivery_id', 'at'], unique=False)

    _create_audit_guard()


def _create_audit_guard() -> None:
    """Make the audit log append-only in the database itself, not just by convention."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION herald_audit_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION herald_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def _drop_audit_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS herald_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def downgrade() -> None:
    _drop_audit_guard()
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_events_delivery')

    op.drop_table('delivery_events')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_device')
        batch_op.drop_index('ix_deliveries_claim')
        batch_op.drop_index('ix_deliveries_campaign_state')

    op.drop_table('deliveries')
    op.drop_table('variants')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_user_time')
        batch_op.drop_index('ix_events_name_time')
        batch_op.drop_index('ix_events_delivery')

    op.drop_table('events')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_user_id')
        batch_op.drop_index('ix_devices_platform_valid')

    op.drop_table('devices')
    op.drop_table('workspace_settings')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_last_seen')

    op.drop_table('users')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_state')

    op.drop_table('campaigns')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_subject')

    op.drop_table('audit_log')
    op.drop_table('attribute_definitions')
