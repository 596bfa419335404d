"""Saved messages: reusable templates and campaign drafts, every save kept as a version.

::

    library = ContentLibrary(db)
    v1 = library.save_template("Cart reminder", content, actor="ana")          # version 1
    v2 = library.save_template("Cart reminder", edited, actor="ana", note="shorter title")   # version 2
    draft = library.draft_from_template(v2.composition_id, "Cart reminder — May", actor="ana", campaign_id=7)
    library.apply_draft(draft.composition_id, actor="ana")    # the campaign (still a draft) gets the content
    library.versions(v2.composition_id)                        # [v1, v2], oldest first

Nothing is saved that could not be sent as written: the content is validated, its literal links checked
(https or an allow-listed app scheme, IDNA-normalised — the normalised form is what is stored) and every
template compiled, so a syntax error is reported on save with its field, line and column. Saving content
equal to the latest version adds no version. Versions are never changed or deleted; ``restore`` saves an
old one again as the newest. Each save is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import Clock, SystemClock
from core.composer.content import PushContent
from core.composer.links import LinkPolicy
from core.composer.personalise import checked_links
from core.composer.templates import TemplateEngine
from core.domain import CampaignState
from core.errors import ValidationError
from core.persistence import Database
from core.persistence.models import AuditEntry, Campaign, Composition, CompositionVersion


class CompositionKind(StrEnum):
    """What a saved message is for."""

    TEMPLATE = "template"
    DRAFT = "draft"


@dataclass(frozen=True, slots=True)
class SavedVersion:
    """One version of a saved message."""

    composition_id: int
    kind: CompositionKind
    name: str
    version: int
    content: PushContent
    saved_at: datetime
    saved_by: str
    note: str | None
    campaign_id: int | None


@dataclass(frozen=True, slots=True)
class CompositionSummary:
    """A saved message as a list shows it."""

    id: int
    kind: CompositionKind
    name: str
    campaign_id: int | None
    latest_version: int
    updated_at: datetime


def validate_for_saving(content: PushContent, links: LinkPolicy, engine: TemplateEngine | None = None) -> PushContent:
    """``content`` with normalised links once every link and template is known to be valid."""
    checked = checked_links(content, links)
    compile_ = (engine or TemplateEngine()).compile
    for name in ("title", "subtitle", "body", "deep_link", "image", "icon"):
        text = getattr(checked, name)
        if text:
            compile_(text, name)
    for i, b in enumerate(checked.buttons):
        compile_(b.label, f"buttons.{i}.label")
        if b.link:
            compile_(b.link, f"buttons.{i}.link")
    for key, value in checked.data.items():
        compile_(value, f"data.{key}")
    for locale, texts in checked.locales.items():
        for name in ("title", "subtitle", "body"):
            if getattr(texts, name):
                compile_(getattr(texts, name), f"locales.{locale}.{name}")
        for button_id, label in texts.buttons.items():
            compile_(label, f"locales.{locale}.buttons.{button_id}")
    return checked


class ContentLibrary:
    """Templates and drafts in the workspace database; see the module docstring."""

    def __init__(self, db: Database, clock: Clock | None = None, *, links: LinkPolicy | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._links = links or LinkPolicy.from_env()
        self._engine = TemplateEngine()

    # -- saving ---------------------------------------------------------------------------------------

    def save_template(self, name: str, content: PushContent, *, actor: str, note: str | None = None) -> SavedVersion:
        """Save ``content`` as the newest version of the template ``name`` (created on first save)."""
        return self._save(CompositionKind.TEMPLATE, name, content, actor, note, None)

    def save_draft(self, name: str, content: PushContent, *, actor: str, campaign_id: int | None = None,
                   note: str | None = None) -> SavedVersion:
        """Save ``content`` as the newest version of the draft ``name``, optionally attached to a campaign."""
        return self._save(CompositionKind.DRAFT, name, content, actor, note, campaign_id)

    def draft_from_template(self, template_id: int, name: str, *, actor: str, campaign_id: int | None = None,
                            version: int | None = None) -> SavedVersion:
        """A new draft starting from a template's version (its latest by default)."""
        source = self.load(template_id, version)
        if source.kind is not CompositionKind.TEMPLATE:
            raise ValidationError(f"{source.name!r} is a draft, not a template", "template")
        note = f"from template {source.name!r} version {source.version}"
        return self._save(CompositionKind.DRAFT, name, source.content, actor, note, campaign_id)

    def restore(self, composition_id: int, version: int, *, actor: str) -> SavedVersion:
        """Save an older version again as the newest."""
        old = self.load(composition_id, version)
        return self._save(old.kind, old.name, old.content, actor, f"restored version {version}", old.campaign_id,
                          force=True)

    def apply_draft(self, draft_id: int, *, actor: str, campaign_id: int | None = None,
                    version: int | None = None) -> int:
        """Write a draft's content into its campaign (which must still be a draft); returns the campaign id."""
        draft = self.load(draft_id, version)
        target = campaign_id or draft.campaign_id
        if target is None:
            raise ValidationError(f"draft {draft.name!r} is not attached to a campaign; name one", "campaign")
        now = self._clock.now()
        with self._db.transaction() as s:
            campaign = s.get(Campaign, target)
            if campaign is None:
                raise ValidationError(f"there is no campaign {target} in this workspace", "campaign")
            if campaign.state != CampaignState.DRAFT.value:
                raise ValidationError(f"campaign {target} is {campaign.state}; only a draft campaign can change",
                                      "campaign")
            campaign.content = draft.content.to_dict()
            campaign.updated_at = now
            s.add(AuditEntry(at=now, actor=actor, action="campaign.content", subject_type="campaign",
                             subject_id=str(target),
                             detail={"draft_id": draft.composition_id, "version": draft.version}))
        return target

    def _save(self, kind: CompositionKind, name: str, content: PushContent, actor: str, note: str | None,
              campaign_id: int | None, *, force: bool = False) -> SavedVersion:
        if not name.strip():
            raise ValidationError("a saved message needs a name", "name")
        checked = validate_for_saving(content, self._links, self._engine)
        stored = checked.to_dict()
        now = self._clock.now()
        with self._db.transaction() as s:
            row = s.scalars(select(Composition).where(Composition.kind == kind.value, Composition.name == name)
                            ).one_or_none()
            if row is None:
                row = Composition(kind=kind.value, name=name, campaign_id=campaign_id, latest_version=0,
                                  created_at=now, updated_at=now)
                s.add(row)
                s.flush()
            elif campaign_id is not None:
                row.campaign_id = campaign_id
            latest = self._version_row(s, row.id, row.latest_version) if row.latest_version else None
            if latest is not None and latest.content == stored and not force:
                return self._saved(row, latest)
            row.latest_version += 1
            row.updated_at = now
            version = CompositionVersion(composition_id=row.id, version=row.latest_version, content=stored,
                                         saved_at=now, saved_by=actor, note=note)
            s.add(version)
            s.add(AuditEntry(at=now, actor=actor, action=f"{kind.value}.save", subject_type="composition",
                             subject_id=str(row.id), detail={"name": name, "version": row.latest_version}))
            s.flush()
            return self._saved(row, version)

    # -- reading --------------------------------------------------------------------------------------

    def load(self, composition_id: int, version: int | None = None) -> SavedVersion:
        """One version (the latest by default)."""
        with self._db.transaction() as s:
            row = s.get(Composition, composition_id)
            if row is None:
                raise ValidationError(f"there is no saved message {composition_id}", "composition")
            found = self._version_row(s, composition_id, version or row.latest_version)
            if found is None:
                raise ValidationError(f"{row.name!r} has no version {version}", "version")
            return self._saved(row, found)

    def versions(self, composition_id: int) -> list[SavedVersion]:
        """Every version of a saved message, oldest first."""
        with self._db.transaction() as s:
            row = s.get(Composition, composition_id)
            if row is None:
                raise ValidationError(f"there is no saved message {composition_id}", "composition")
            return [self._saved(row, v) for v in row.versions]

    def summaries(self, kind: CompositionKind | None = None) -> Sequence[CompositionSummary]:
        """Saved messages (of one kind), most recently changed first."""
        query = select(Composition).where(Composition.archived_at.is_(None))
        if kind is not None:
            query = query.where(Composition.kind == kind.value)
        with self._db.transaction() as s:
            rows = s.scalars(query.order_by(Composition.updated_at.desc(), Composition.id.desc())).all()
            return [CompositionSummary(r.id, CompositionKind(r.kind), r.name, r.campaign_id, r.latest_version,
                                       r.updated_at) for r in rows]

    @staticmethod
    def _version_row(s: Session, composition_id: int, version: int) -> CompositionVersion | None:
        return s.scalars(select(CompositionVersion).where(
            CompositionVersion.composition_id == composition_id, CompositionVersion.version == version)
        ).one_or_none()

    @staticmethod
    def _saved(row: Composition, version: CompositionVersion) -> SavedVersion:
        return SavedVersion(row.id, CompositionKind(row.kind), row.name, version.version,
                            PushContent.from_dict(version.content), version.saved_at, version.saved_by, version.note,
                            row.campaign_id)
