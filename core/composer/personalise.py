"""Per-recipient content: locale resolved, Liquid templates rendered, links checked.

``Personaliser`` is what the sending engine calls for a personalised campaign
(``SendEngine(…, personalise=Personaliser(db))``)::

    personaliser.prepare(claimed_rows)          # once per claimed batch: contexts in two queries
    content_for_row = personaliser(content, row)  # per row: a PushContent with plain texts

``check_audience`` renders every recipient of a campaign (and builds their payload, so sizes are checked
too) *before* the campaign is written to the outbox: in strict mode one undefined variable stops the send
with an error naming the recipients, fields and template positions (``PersonalisationError``).

Templates are compiled once per (source, field) by the ``TemplateEngine`` cache and a content's plan — which
fields are templates, compiled — once per (content, locale chain); a recipient then costs one lookup per
variable. Rendered links are checked (https or an allow-listed app scheme, IDNA-normalised) with a small
cache, since most recipients share the same link.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.composer.content import TEXT_FIELDS, PushContent, has_template
from core.composer.links import LinkPolicy, check_link
from core.composer.payloads import Target, build_request
from core.composer.recipients import RecipientContext, RecipientDirectory
from core.composer.templates import CompiledTemplate, TemplateEngine, TemplateError
from core.domain import Platform, Provider
from core.errors import ValidationError
from core.persistence import Database

#: Errors quoted in one PersonalisationError.
_QUOTED = 5
_LINK_FIELDS = ("deep_link", "image", "icon")
_PROVIDER_OF = {Platform.ANDROID: Provider.FCM, Platform.IOS: Provider.APNS, Platform.WEB: Provider.WEBPUSH}


class Recipient(Protocol):
    """What the personaliser needs of a claimed delivery (``core.sending.outbox.ClaimedDelivery`` fits)."""

    @property
    def id(self) -> int: ...

    @property
    def device_id(self) -> int: ...


class PersonalisationError(ValidationError):
    """Recipients whose message cannot be made; ``problems`` holds every error found (up to a cap)."""

    def __init__(self, message: str, problems: Sequence[ValidationError], failed: int, checked: int) -> None:
        super().__init__(message, problems[0].field if problems else "content")
        self.problems = list(problems)
        self.failed = failed
        self.checked = checked


class _LinkRefused(Exception):
    """A rendered link failed the check; ``render_for`` names the recipient."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class _Plan:
    """One content in one locale chain: the localised content and its compiled templates."""

    content: PushContent
    fields: tuple[tuple[str, CompiledTemplate], ...]
    buttons: tuple[tuple[int, str, CompiledTemplate], ...]
    data: tuple[tuple[str, CompiledTemplate], ...]

    @property
    def static(self) -> bool:
        return not (self.fields or self.buttons or self.data)


class Personaliser:
    """Renders content per recipient; see the module docstring."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        directory: RecipientDirectory | None = None,
        engine: TemplateEngine | None = None,
        links: LinkPolicy | None = None,
        context_cache: int = 20_000,
    ) -> None:
        if directory is None and db is None:
            raise ValueError("a Personaliser needs a database or a RecipientDirectory")
        self.directory = directory or RecipientDirectory(db)  # type: ignore[arg-type]
        self.engine = engine or TemplateEngine()
        self.links = links or LinkPolicy.from_env()
        self._contexts: dict[int, RecipientContext] = {}
        self._context_cache = context_cache
        self._plans: dict[tuple[int, tuple[str, ...]], tuple[PushContent, _Plan]] = {}
        self._chains: dict[tuple[int, str | None], tuple[str, ...]] = {}
        self._checked_links: dict[tuple[str, str], str] = {}

    # -- contexts -------------------------------------------------------------------------------------

    def prepare(self, deliveries: Iterable[Recipient]) -> None:
        """Load the contexts of a claimed batch in bulk (call once per batch, before rendering its rows)."""
        missing = {d.device_id for d in deliveries} - self._contexts.keys()
        if not missing:
            return
        if len(self._contexts) + len(missing) > self._context_cache:
            self._contexts.clear()
        self._contexts.update(self.directory.load(missing))

    def context(self, device_id: int) -> RecipientContext:
        """The context of one device (loaded alone when ``prepare`` did not cover it)."""
        found = self._contexts.get(device_id)
        if found is None:
            self.prepare([_Device(device_id)])
            found = self._contexts.get(device_id)
        if found is None:
            raise ValidationError(f"device {device_id} is not in this workspace any more", "device")
        return found

    # -- rendering ------------------------------------------------------------------------------------

    def __call__(self, content: PushContent, d: Recipient) -> PushContent:
        """``content`` for the recipient of claimed delivery ``d`` (the engine's ``Personaliser`` hook)."""
        return self.render_for(content, self.context(d.device_id), delivery_id=d.id)

    def render_for(
        self, content: PushContent, recipient: RecipientContext, delivery_id: int | None = None
    ) -> PushContent:
        """``content`` in ``recipient``'s locale with every template rendered; TemplateError / ValidationError."""
        plan = self._plan(content, recipient.locale)
        if plan.static:
            return plan.content
        try:
            changes = self._render_texts(plan, recipient.variables)
        except (TemplateError, _LinkRefused) as exc:
            label = recipient.label if delivery_id is None else f"{recipient.label}, delivery {delivery_id}"
            if isinstance(exc, TemplateError):
                raise exc.for_recipient(label) from None
            raise ValidationError(f"{exc.error} (for {label})", exc.error.field) from None
        if not changes.get("title", plan.content.title) and not changes.get("body", plan.content.body) \
                and not plan.content.silent:
            label = recipient.label if delivery_id is None else f"{recipient.label}, delivery {delivery_id}"
            raise ValidationError(f"title and body are both empty once rendered (for {label})", "title")
        return plan.content.rendered(changes)

    def _render_texts(self, plan: _Plan, variables: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name, template in plan.fields:
            text = template.render(variables)
            changes[name] = self._link(text, name) if name in _LINK_FIELDS else text
        if plan.buttons:
            buttons = list(plan.content.buttons)
            for index, part, template in plan.buttons:
                text = template.render(variables)
                if part == "link":
                    text = self._link(text, f"buttons.{index}.link")
                buttons[index] = dataclasses.replace(buttons[index], **{part: text})
            changes["buttons"] = tuple(buttons)
        if plan.data:
            changes["data"] = {**plan.content.data, **{k: t.render(variables) for k, t in plan.data}}
        for name in _LINK_FIELDS:
            if changes.get(name) == "":
                changes[name] = None
        return changes

    def _link(self, url: str, name: str) -> str:
        if not url:
            return url
        key = (url, name)
        checked = self._checked_links.get(key)
        if checked is None:
            if name == "icon" and ":" not in url:
                return url  # an Android drawable resource name, not a URL
            try:
                checked = check_link(url, name, self.links, app_schemes_allowed=name not in ("image", "icon"))
            except ValidationError as exc:
                raise _LinkRefused(exc) from None
            if len(self._checked_links) > 4096:
                self._checked_links.clear()
            self._checked_links[key] = checked
        return checked

    def _plan(self, content: PushContent, locale: str | None) -> _Plan:
        chain_key = (id(content), locale)
        chain = self._chains.get(chain_key) if content.locales else ()
        if chain is None:
            if len(self._chains) > 8192:
                self._chains.clear()
            chain = self._chains[chain_key] = content.locale_chain(locale)
        key = (id(content), chain)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is content:
            return cached[1]
        plan = self._compile(content.localized(locale))
        if len(self._plans) > 1024:
            self._plans.clear()
        self._plans[key] = (content, plan)  # holding ``content`` keeps its id from being reused
        return plan

    def _compile(self, content: PushContent) -> _Plan:
        content = checked_links(content, self.links)
        compile_ = self.engine.compile
        fields = tuple(
            (name, compile_(getattr(content, name), name))
            for name in (*TEXT_FIELDS, *_LINK_FIELDS) if has_template(getattr(content, name))
        )
        buttons = tuple(
            (i, part, compile_(text, f"buttons.{i}.{part}"))
            for i, b in enumerate(content.buttons)
            for part, text in (("label", b.label), ("link", b.link or ""))
            if has_template(text)
        )
        data = tuple((k, compile_(v, f"data.{k}")) for k, v in content.data.items() if has_template(v))
        return _Plan(content, fields, buttons, data)

    def compile_all(self, content: PushContent) -> None:
        """Compile every template of ``content`` (all locales) now: syntax errors surface before sending."""
        for locale in [None, *content.locales]:
            self._plan(content, locale)

    # -- before sending -------------------------------------------------------------------------------

    def check_audience(
        self,
        contents: Mapping[int | None, PushContent],
        device_ids: Sequence[int],
        variants: Mapping[int, int | None] | None = None,
        *,
        campaign_id: int = 0,
        now_epoch: int = 0,
        chunk: int = 1000,
    ) -> int:
        """Render (and size-check) the message of every device; PersonalisationError if any fails.

        Returns how many recipients were checked.
        """
        for content in contents.values():
            self.compile_all(content)
        problems: list[ValidationError] = []
        failed = checked = 0
        for start in range(0, len(device_ids), chunk):
            ids = device_ids[start:start + chunk]
            found = self.directory.load(ids)
            for device_id in ids:
                recipient = found.get(device_id)
                if recipient is None:
                    continue
                variant = variants.get(device_id) if variants is not None else None
                content = contents.get(variant) or contents[None]
                checked += 1
                try:
                    rendered = self.render_for(content, recipient)
                    target = Target(0, campaign_id, recipient.platform, _PROVIDER_OF[recipient.platform],
                                    recipient.token, {}, recipient.label)
                    build_request(rendered, target, now_epoch)
                except ValidationError as exc:
                    failed += 1
                    if len(problems) < _QUOTED:
                        problems.append(exc)
        if problems:
            quoted = "; ".join(str(p) for p in problems)
            more = f" (and {failed - len(problems):,} more)" if failed > len(problems) else ""
            raise PersonalisationError(
                f"{failed:,} of {checked:,} recipients cannot get this message, nothing was sent: {quoted}{more}",
                problems, failed, checked,
            )
        return checked


def checked_links(content: PushContent, policy: LinkPolicy) -> PushContent:
    """``content`` with its literal links checked and normalised (templated links are checked per recipient)."""
    changes: dict[str, Any] = {}
    for name in _LINK_FIELDS:
        url = getattr(content, name)
        if url and not has_template(url) and not (name == "icon" and ":" not in url):
            changes[name] = check_link(url, name, policy, app_schemes_allowed=name not in ("image", "icon"))
    buttons = []
    for i, b in enumerate(content.buttons):
        if b.link and not has_template(b.link):
            b = dataclasses.replace(b, link=check_link(b.link, f"buttons.{i}.link", policy))
        buttons.append(b)
    if tuple(buttons) != content.buttons:
        changes["buttons"] = tuple(buttons)
    if all(getattr(content, k) == v for k, v in changes.items()):
        return content
    return dataclasses.replace(content, **changes)


@dataclass(frozen=True, slots=True)
class _Device:
    device_id: int
    id: int = 0


__all__ = ["PersonalisationError", "Personaliser", "Recipient", "TemplateError", "checked_links"]
