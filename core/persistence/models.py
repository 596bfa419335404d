"""The workspace's tables as typed SQLAlchemy 2 ORM models.

These classes stay inside ``core``: services hand the console plain dataclasses, never ORM objects.
Every change here needs an Alembic revision in ``migrations/versions``; ``tests/core/persistence``
fails when the models and the migrations disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.persistence.types import UTCDateTime

#: Deterministic constraint names, so migrations can alter them on every backend (batch mode on SQLite).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with the naming convention and JSON for ``dict`` columns."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class WorkspaceSetting(Base):
    """Key/value settings of the workspace that belong with its data (e.g. the SDK key)."""

    __tablename__ = "workspace_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AttributeDefinition(Base):
    """A user attribute the workspace knows, with its type; segments may only name known attributes."""

    __tablename__ = "attribute_definitions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class User(Base):
    """An end user of the customer's app, identified by the app's own external id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    location_at: Mapped[datetime | None]
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_at: Mapped[datetime | None]
    consent_source: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]

    devices: Mapped[list[Device]] = relationship(back_populates="user")



class Device(Base):
    """An app installation that can receive pushes: an FCM/APNs token or a Web Push subscription."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    #: The FCM/APNs token, or the Web Push subscription's endpoint URL.
    token: Mapped[str] = mapped_column(Text)
    #: The full Web Push subscription (endpoint and keys.p256dh / keys.auth); None for tokens.
    subscription: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    app_version: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_at: Mapped[datetime]
    last_registered_at: Mapped[datetime]
    invalidated_at: Mapped[datetime | None]
    invalid_reason: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="devices")

    __table_args__ = (
        UniqueConstraint("provider", "token", name="uq_devices_provider_token"),
        Index("ix_devices_user_id", "user_id"),
        Index("ix_devices_platform_valid", "platform", "invalidated_at"),
    )


class Event(Base):
    """Something a user did or a device reported, stored once per client-chosen event id."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revenue: Mapped[float | None] = mapped_column(Float)
    delivery_id: Mapped[int | None] = mapped_column(BigId)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_events_user_time", "user_id", "occurred_at"),
        Index("ix_events_name_time", "name", "occurred_at"),
        # Partial: most events belong to no delivery, and every indexed row costs the ingest hot path.
        Index("ix_events_delivery", "delivery_id", sqlite_where=text("delivery_id IS NOT NULL"),
              postgresql_where=text("delivery_id IS NOT NULL")),
    )


class Campaign(Base):
    """A push campaign: its content, its audience and where it stands."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    variants: Mapped[list[Variant]] = relationship(back_populates="campaign", order_by="Variant.id")

    __table_args__ = (Index("ix_campaigns_state", "state"),)


class Variant(Base):
    """One version of a campaign's content in an experiment (a plain campaign has one)."""

    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    share: Mapped[float] = mapped_column(Float, default=1.0)
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)

    campaign: Mapped[Campaign] = relationship(back_populates="variants")

    __table_args__ = (UniqueConstraint("campaign_id", "name", name="uq_variants_campaign_name"),)


class Composition(Base):
    """A saved message: a reusable template, or a campaign's draft; its content lives in versions."""

    __tablename__ = "compositions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: ``template`` or ``draft``.
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    #: The campaign a draft belongs to (None for templates and for drafts not attached yet).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]

    versions: Mapped[list[CompositionVersion]] = relationship(
        back_populates="composition", order_by="CompositionVersion.version")

    __table_args__ = (
        UniqueConstraint("kind", "name", name="uq_compositions_kind_name"),
        Index("ix_compositions_campaign", "campaign_id"),
    )


class CompositionVersion(Base):
    """One saved state of a composition's content; versions are only ever added."""

    __tablename__ = "composition_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    composition_id: Mapped[int] = mapped_column(ForeignKey("compositions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    saved_at: Mapped[datetime]
    saved_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)

    composition: Mapped[Composition] = relationship(back_populates="versions")

    __table_args__ = (
        UniqueConstraint("composition_id", "version", name="uq_composition_versions_composition_version"),
    )


class Delivery(Base):
    """One outbox row: a campaign's message (or its recall) to one device, with its whole history."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), default="message")
    provider: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(256))
    error_class: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    queued_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    displayed_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]
    recalled_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("campaign_id", "device_id", "kind", name="uq_deliveries_campaign_device_kind"),
        Index("ix_deliveries_campaign_state", "campaign_id", "state"),
        Index("ix_deliveries_claim", "provider", "state", "next_attempt_at"),
        Index("ix_deliveries_device", "device_id"),
    )


class DeliveryEvent(Base):
    """An append-only step in one delivery's history: an attempt, an answer, a device report."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_delivery_events_delivery", "delivery_id", "at"),)


class AuditEntry(Base):
    """Who did what, when and why. Rows are never updated or deleted (database triggers refuse it)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)
