"""The workspace's SDK key: what devices send as ``X-Herald-Key`` to report to this workspace."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from core.clock import utcnow
from core.persistence import Database
from core.persistence.models import WorkspaceSetting

SETTING = "sdk_key"
PREFIX = "hk_"


def stored_sdk_key(db: Database) -> str | None:
    """The key stored in the workspace, if one was ever generated."""
    with db.transaction() as session:
        return session.scalar(select(WorkspaceSetting.value).where(WorkspaceSetting.key == SETTING))


def ensure_sdk_key(db: Database, explicit: str | None = None) -> str:
    """``explicit`` when given; else the stored key; else a new random key, stored for next time."""
    if explicit:
        return explicit
    with db.transaction() as session:
        row = session.get(WorkspaceSetting, SETTING)
        if row is None:
            row = WorkspaceSetting(key=SETTING, value=PREFIX + secrets.token_urlsafe(24), updated_at=utcnow())
            session.add(row)
        return row.value


def masked(key: str) -> str:
    """A key shortened for display, e.g. ``hk_AbCd…``, so logs never carry the whole of it."""
    return key[:7] + "…" if len(key) > 7 else "…"
