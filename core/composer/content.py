"""What a campaign manager writes: one push, before it is shaped for any platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationError

#: FCM and APNs allow 28 days; Herald's default is one day.
MAX_TTL_SECONDS = 28 * 24 * 3600
DEFAULT_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Button:
    """An action button: its label and where it leads."""

    id: str
    label: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class PushContent:
    """One push as written (texts already personalised, if they were templates)."""

    title: str = ""
    body: str = ""
    subtitle: str = ""
    image: str | None = None
    icon: str | None = None
    buttons: tuple[Button, ...] = ()
    deep_link: str | None = None
    sound: str | None = None
    badge: int | None = None
    channel: str | None = None
    category: str | None = None
    #: ``high`` wakes the device now; ``normal`` lets the platform batch it.
    priority: str = "high"
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    #: Collapse key / collapse id / tag / Topic; a resend with the same key replaces, never doubles.
    replace_key: str | None = None
    #: Data-only: nothing is shown, the app's code receives ``data``.
    silent: bool = False
    data: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.silent and not (self.title or self.body):
            raise ValidationError("a visible push needs a title or a body", "title")
        if not 0 <= self.ttl_seconds <= MAX_TTL_SECONDS:
            raise ValidationError(f"ttl must be between 0 and {MAX_TTL_SECONDS} seconds (28 days)", "ttl_seconds")
        if self.priority not in ("high", "normal"):
            raise ValidationError("priority must be high or normal", "priority")
        if len(self.buttons) > 3:
            raise ValidationError("at most 3 buttons", "buttons")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PushContent:
        """Content from its JSON form (campaign files, the database); errors name the field."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(raw) - known
        if unknown:
            raise ValidationError(f"unknown content fields: {', '.join(sorted(unknown))}", sorted(unknown)[0])
        values = dict(raw)
        buttons = values.pop("buttons", ())
        if not isinstance(buttons, list | tuple):
            raise ValidationError("buttons must be a list", "buttons")
        parsed = []
        for i, b in enumerate(buttons):
            if not isinstance(b, Mapping) or not b.get("label"):
                raise ValidationError("each button needs a label", f"buttons.{i}.label")
            parsed.append(Button(str(b.get("id") or f"b{i + 1}"), str(b["label"]), b.get("link")))
        data = values.pop("data", {}) or {}
        if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
            raise ValidationError("data must map names to strings", "data")
        try:
            return cls(buttons=tuple(parsed), data=dict(data), **values)
        except TypeError as exc:
            raise ValidationError(f"content is malformed: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a campaign."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "buttons":
                value = [{"id": b.id, "label": b.label, "link": b.link} for b in value]
            elif name == "data":
                value = dict(value)
            out[name] = value
        return out
