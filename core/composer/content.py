"""What a campaign manager writes: one push, before it is shaped for any platform.

``PushContent`` holds the texts (which may be Liquid templates, rendered per recipient by
``core.composer.personalise``), the media, up to three buttons, the click action, sound and badge (set to a
number, or incremented by the app), Android channel, iOS category and interruption level, priority, TTL,
the replace key, silent (data-only) pushes, custom data, and per-locale texts: ``locales`` maps a locale
(``fr``, ``pt-BR``) to the texts written for it, ``default_locale`` names the language of the top-level
texts, and ``locale_chain`` picks, for a recipient's locale, the locales to try in order (``pt-BR`` →
``pt`` → any explicit fallbacks → the default). ``localized`` resolves one recipient's texts.

``from_dict`` / ``to_dict`` are the JSON form stored with campaigns, templates and drafts; content written
before a field existed reads back with that field's default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from core.composer.links import refuse_dangerous
from core.errors import ValidationError

#: FCM and APNs allow 28 days; Herald's default is one day.
MAX_TTL_SECONDS = 28 * 24 * 3600
DEFAULT_TTL_SECONDS = 24 * 3600
MAX_BUTTONS: Final = 3
#: APNs ``interruption-level`` values (iOS 15+); ``critical`` needs Apple's entitlement.
INTERRUPTION_LEVELS: Final = ("passive", "active", "time-sensitive", "critical")
#: The text fields a locale can override (button labels are overridden by button id).
TEXT_FIELDS: Final = ("title", "subtitle", "body")
_TEMPLATE_MARKERS: Final = ("{{", "{%")


def has_template(text: str | None) -> bool:
    """True when ``text`` contains Liquid markup."""
    return bool(text) and any(m in text for m in _TEMPLATE_MARKERS)  # type: ignore[operator]


def normalise_locale(tag: str) -> str:
    """``pt_br`` → ``pt-BR``, ``ZH-hant-tw`` → ``zh-Hant-TW`` (BCP 47 casing)."""
    parts = [p for p in tag.replace("_", "-").split("-") if p]
    out = []
    for i, part in enumerate(parts):
        if i == 0:
            out.append(part.lower())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) in (2, 3) and (part.isalpha() or part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


@dataclass(frozen=True, slots=True)
class Button:
    """An action button: its label and where it leads."""

    id: str
    label: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class LocalizedText:
    """The texts written for one locale; an empty field falls back along the locale chain."""

    title: str = ""
    subtitle: str = ""
    body: str = ""
    #: Button id → label in this locale.
    buttons: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> LocalizedText:
        """One locale's texts from JSON; errors name ``where``."""
        if not isinstance(raw, Mapping):
            raise ValidationError(f"{where} must be an object with title, subtitle, body, buttons", where)
        unknown = set(raw) - {*TEXT_FIELDS, "buttons"}
        if unknown:
            raise ValidationError(f"unknown fields in {where}: {', '.join(sorted(unknown))}", where)
        buttons = raw.get("buttons") or {}
        if not isinstance(buttons, Mapping) or not all(isinstance(v, str) for v in buttons.values()):
            raise ValidationError(f"{where}.buttons must map button ids to labels", f"{where}.buttons")
        texts = {k: raw.get(k) or "" for k in TEXT_FIELDS}
        for k, v in texts.items():
            if not isinstance(v, str):
                raise ValidationError(f"{where}.{k} must be text", f"{where}.{k}")
        return cls(buttons=dict(buttons), **texts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; empty fields are left out."""
        out: dict[str, Any] = {k: getattr(self, k) for k in TEXT_FIELDS if getattr(self, k)}
        if self.buttons:
            out["buttons"] = dict(self.buttons)
        return out


@dataclass(frozen=True, slots=True)
class PushContent:
    """One push as written; texts may be Liquid templates rendered per recipient."""

    title: str = ""
    body: str = ""
    subtitle: str = ""
    image: str | None = None
    icon: str | None = None
    buttons: tuple[Button, ...] = ()
    deep_link: str | None = None
    sound: str | None = None
    #: Sets the app badge to this number (APNs ``badge``, Android ``notification_count``).
    badge: int | None = None
    #: Raises the badge by this much instead (the Herald SDK on the device adds it to the current count).
    badge_increment: int | None = None
    channel: str | None = None
    category: str | None = None
    #: APNs ``interruption-level``: passive, active, time-sensitive or critical.
    interruption_level: str | None = None
    #: APNs ``thread-id`` grouping notifications; ``campaign-<id>`` when not set.
    thread_id: str | None = None
    #: ``high`` wakes the device now; ``normal`` lets the platform batch it.
    priority: str = "high"
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    #: Collapse key / collapse id / tag / Topic; a resend with the same key replaces, never doubles.
    replace_key: str | None = None
    #: Data-only: nothing is shown, the app's code receives ``data``.
    silent: bool = False
    data: Mapping[str, str] = field(default_factory=dict)
    #: Web: keep the notification on screen until the user acts (``requireInteraction``).
    require_interaction: bool = False
    #: Web: alert again when it replaces a notification with the same tag.
    renotify: bool = True
    #: The language of the top-level texts.
    default_locale: str = "en"
    #: Locale → texts written for it.
    locales: Mapping[str, LocalizedText] = field(default_factory=dict)
    #: Locale → locales to try after it (and its parent languages), before the default.
    locale_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Opt-in: a payload over its limit has its body cut (at a character boundary, with an ellipsis) to fit.
    trim_body: bool = False
    #: Set on a personalised copy (``rendered``): the content it was rendered from and which fields changed,
    #: so that payload building can reuse what all recipients share. Not part of the JSON form or equality.
    origin: tuple[PushContent, frozenset[str]] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.silent and not (self.title or self.body or any(t.title or t.body for t in self.locales.values())):
            raise ValidationError("a visible push needs a title or a body", "title")
        if not 0 <= self.ttl_seconds <= MAX_TTL_SECONDS:
            raise ValidationError(f"ttl must be between 0 and {MAX_TTL_SECONDS} seconds (28 days)", "ttl_seconds")
        if self.priority not in ("high", "normal"):
            raise ValidationError("priority must be high or normal", "priority")
        if len(self.buttons) > MAX_BUTTONS:
            raise ValidationError(f"at most {MAX_BUTTONS} buttons", "buttons")
        if len({b.id for b in self.buttons}) != len(self.buttons):
            raise ValidationError("button ids must differ", "buttons")
        if self.badge is not None and self.badge_increment is not None:
            raise ValidationError("set the badge or increment it, not both", "badge_increment")
        for name in ("badge", "badge_increment"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValidationError(f"{name} must be a whole number of at least 0", name)
        if self.interruption_level is not None and self.interruption_level not in INTERRUPTION_LEVELS:
            raise ValidationError(f"interruption_level must be one of {', '.join(INTERRUPTION_LEVELS)}",
                                  "interruption_level")
        for name, link in self.links():
            if not has_template(link):
                refuse_dangerous(link, name)

    def rendered(self, changes: Mapping[str, Any]) -> PushContent:
        """A copy with rendered texts in place, without validating again (the hot path of personalisation).

        Only for texts of content that was validated: the caller checks what rendering can break (rendered
        links, an empty title and body).
        """
        keys = frozenset(changes)
        new = _copy_with(self, changes, keys)
        if self.origin is None:
            object.__setattr__(new, "origin", (self, keys))
        else:
            object.__setattr__(new, "origin", (self.origin[0], self.origin[1] | keys))
        return new

    def links(self) -> list[tuple[str, str]]:
        """Every URL of the content with the field it sits in (``buttons.1.link`` …)."""
        out = [(n, v) for n in ("deep_link", "image", "icon") if (v := getattr(self, n))]
        out += [(f"buttons.{i}.link", b.link) for i, b in enumerate(self.buttons) if b.link]
        return out

    # -- locales --------------------------------------------------------------------------------------

    def locale_chain(self, locale: str | None) -> tuple[str, ...]:
        """The locales of ``locales`` to try for a recipient whose locale is ``locale``, best first."""
        if not self.locales:
            return ()
        known = {normalise_locale(k): k for k in self.locales}
        chain: list[str] = []

        def add_with_parents(tag: str) -> None:
            parts = normalise_locale(tag).split("-")
            for n in range(len(parts), 0, -1):
                key = known.get("-".join(parts[:n]))
                if key is not None and key not in chain:
                    chain.append(key)

        if locale:
            add_with_parents(locale)
            fallbacks = {normalise_locale(k): v for k, v in self.locale_fallbacks.items()}
            parts = normalise_locale(locale).split("-")
            for n in range(len(parts), 0, -1):
                for fallback in fallbacks.get("-".join(parts[:n]), ()):
                    add_with_parents(fallback)
        add_with_parents(self.default_locale)
        return tuple(chain)

    def localized(self, locale: str | None) -> PushContent:
        """This content with the texts for ``locale`` resolved; the result has no ``locales`` left."""
        if not self.locales:
            return self
        chain = [self.locales[k] for k in self.locale_chain(locale)]
        texts: dict[str, Any] = {}
        for name in TEXT_FIELDS:
            texts[name] = next((getattr(t, name) for t in chain if getattr(t, name)), getattr(self, name))
        buttons = tuple(
            dataclasses.replace(b, label=next((t.buttons[b.id] for t in chain if t.buttons.get(b.id)), b.label))
            for b in self.buttons
        )
        return dataclasses.replace(self, buttons=buttons, locales={}, locale_fallbacks={}, **texts)

    # -- JSON -----------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PushContent:
        """Content from its JSON form (campaign files, the database); errors name the field."""
        known = set(_JSON_FIELDS)
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
        locales = values.pop("locales", {}) or {}
        if not isinstance(locales, Mapping):
            raise ValidationError("locales must map a locale to its texts", "locales")
        parsed_locales = {str(k): LocalizedText.from_dict(v, f"locales.{k}") for k, v in locales.items()}
        fallbacks = values.pop("locale_fallbacks", {}) or {}
        if not isinstance(fallbacks, Mapping) or not all(
                isinstance(v, list | tuple) and all(isinstance(x, str) for x in v) for v in fallbacks.values()):
            raise ValidationError("locale_fallbacks must map a locale to a list of locales", "locale_fallbacks")
        try:
            return cls(buttons=tuple(parsed), data=dict(data), locales=parsed_locales,
                       locale_fallbacks={str(k): tuple(v) for k, v in fallbacks.items()}, **values)
        except TypeError as exc:
            raise ValidationError(f"content is malformed: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a campaign."""
        out: dict[str, Any] = {}
        for name in _JSON_FIELDS:
            value = getattr(self, name)
            if name == "buttons":
                value = [{"id": b.id, "label": b.label, "link": b.link} for b in value]
            elif name == "data":
                value = dict(value)
            elif name == "locales":
                value = {k: v.to_dict() for k, v in value.items()}
            elif name == "locale_fallbacks":
                value = {k: list(v) for k, v in value.items()}
            out[name] = value
        return out


_JSON_FIELDS: Final = tuple(f for f in PushContent.__dataclass_fields__ if f != "origin")
_FIELD_NAMES: Final = _JSON_FIELDS


def _make_copier(changed: frozenset[str]) -> Callable[[PushContent, Mapping[str, Any]], PushContent]:
    """``copy(content, changes)``: a new PushContent with the ``changed`` fields from ``changes``, unvalidated.

    Generated once per set of changed fields (one statement per field, no loop, no ``getattr``): the hot
    path of personalisation copies a content for every recipient, always changing the same fields.
    """
    lines = ["def copy(self, changes):", "    new = _new(_cls)"]
    lines += [f"    _set(new, {name!r}, changes[{name!r}])" if name in changed else
              f"    _set(new, {name!r}, self.{name})" for name in _FIELD_NAMES]
    lines.append("    return new")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": PushContent, "_set": object.__setattr__}
    exec(compile("\n".join(lines), "<push-content-copy>", "exec"), namespace)
    copy: Callable[[PushContent, Mapping[str, Any]], PushContent] = namespace["copy"]
    return copy


_COPIERS: dict[frozenset[str], Callable[[PushContent, Mapping[str, Any]], PushContent]] = {}


def _copy_with(content: PushContent, changes: Mapping[str, Any], keys: frozenset[str]) -> PushContent:
    copier = _COPIERS.get(keys)
    if copier is None:
        unknown = keys - set(_FIELD_NAMES)
        if unknown:
            raise TypeError(f"PushContent has no field {sorted(unknown)[0]!r}")
        copier = _COPIERS[keys] = _make_copier(keys)
    return copier(content, changes)
