"""Who the composer can preview a push for, and the push rendered for one of them (engine thread only).

``PersonalisationSource`` is what ``ComposePage`` needs; ``WorkspacePersonalisation`` answers from the
workspace database with the same ``Personaliser`` the sender uses, so the preview shows exactly what that
recipient would get (their locale's texts, their variables, strict undefined-variable errors).
Both methods touch the database: call them through ``EngineHost.submit``, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from core.composer.content import PushContent
from core.composer.personalise import Personaliser
from core.errors import ValidationError
from core.persistence import Database
from core.persistence.models import Device, User


@dataclass(frozen=True, slots=True)
class PreviewRecipient:
    """A device the preview can be rendered for, and how the picker names it."""

    device_id: int
    external_id: str
    platform: str
    locale: str | None = None

    @property
    def label(self) -> str:
        """``ana · ios · fr-FR``."""
        return " · ".join(p for p in (self.external_id, self.platform, self.locale or "") if p)


class PersonalisationSource(Protocol):
    """Recipients to pick from and the content rendered for one of them."""

    def recipients(self, limit: int = 200) -> list[PreviewRecipient]:
        """Up to ``limit`` recipients, in a stable order."""
        ...

    def render(self, content: PushContent, device_id: int) -> PushContent:
        """``content`` as device ``device_id``'s user would get it; ValidationError / TemplateError if not."""
        ...


class WorkspacePersonalisation:
    """``PersonalisationSource`` over a workspace database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._personaliser: Personaliser | None = None

    def recipients(self, limit: int = 200) -> list[PreviewRecipient]:
        """Devices with their users, by user id then device id."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(Device.id, User.external_id, Device.platform, User.locale, Device.locale)
                .join(User, User.id == Device.user_id).order_by(User.id, Device.id).limit(limit)
            ).all()
        return [PreviewRecipient(d, str(x), str(p), u_loc or d_loc) for d, x, p, u_loc, d_loc in rows]

    def render(self, content: PushContent, device_id: int) -> PushContent:
        """The sender's own personalisation for this device."""
        if self._personaliser is None:
            self._personaliser = Personaliser(self.db)
        found = self._personaliser.directory.load([device_id]).get(device_id)
        if found is None:
            raise ValidationError(f"device {device_id} is not in this workspace any more", "device")
        return self._personaliser.render_for(content, found)
