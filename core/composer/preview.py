"""Preview data: a message as each platform would show it to one chosen recipient.

``preview(content, recipient, personaliser)`` renders the content for the recipient (locale, templates,
links), builds the exact payload of every platform (so the sizes shown are the bytes that would be sent,
after an opt-in trim), and draws each notification with the platform's display rules
(``core.domain.display``: truncation lengths, dropped fields). The simulator's tray draws what its devices
receive with the same rules, so a previewed message and the delivered one look the same
(``tests/e2e/test_composed_push.py``).

A problem for one platform (a payload too large, a link refused) is reported in that platform's preview
rather than raised, so the screen can show all three; a template error is raised (it concerns all three).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from core.composer.content import PushContent
from core.composer.payloads import Target, build_request, json_bytes, payload_limit
from core.composer.personalise import Personaliser
from core.composer.recipients import RecipientContext
from core.domain import Platform, Provider
from core.domain.display import DisplayedNotification, ShownButton, displayed
from core.errors import ValidationError
from core.providers.base import ApnsRequest, FcmRequest, PushRequest, WebPushRequest

PROVIDERS: dict[Platform, Provider] = {
    Platform.ANDROID: Provider.FCM, Platform.IOS: Provider.APNS, Platform.WEB: Provider.WEBPUSH,
}
_PREVIEW_TOKENS = {Provider.FCM: "x" * 163, Provider.APNS: "0" * 64, Provider.WEBPUSH: ""}


@dataclass(frozen=True, slots=True)
class PlatformPreview:
    """One platform's view: what it shows (None for a silent push), the payload and its size, or the error."""

    platform: Platform
    shown: DisplayedNotification | None
    payload: bytes | None
    size: int
    limit: int
    body_trimmed: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """The message for one recipient on every platform."""

    recipient: str
    locale: str | None
    #: The content after locale resolution and rendering.
    content: PushContent
    platforms: dict[Platform, PlatformPreview] = field(default_factory=dict)


def shown_on(platform: Platform, content: PushContent) -> DisplayedNotification | None:
    """How ``platform`` draws rendered ``content`` (None when nothing is shown)."""
    if content.silent:
        return None
    buttons = tuple(ShownButton(b.id, b.label, b.link) for b in content.buttons)
    return displayed(
        platform, title=content.title, subtitle=content.subtitle, body=content.body, image=content.image,
        icon=content.icon, buttons=buttons, deep_link=content.deep_link, badge=content.badge, sound=content.sound,
    )


def _payload_of(request: PushRequest) -> bytes:
    if isinstance(request, FcmRequest):
        return json_bytes({"message": {**request.message, "token": request.token}})
    assert isinstance(request, ApnsRequest | WebPushRequest)
    return request.payload


def _body_of(request: PushRequest) -> str | None:
    if isinstance(request, FcmRequest):
        note = request.message.get("notification") or {}
        body = note.get("body")
        return body if isinstance(body, str) else None
    document = orjson.loads(request.payload)
    if isinstance(request, ApnsRequest):
        alert = document.get("aps", {}).get("alert")
        return alert.get("body") if isinstance(alert, dict) else None
    body = document.get("body")
    return body if isinstance(body, str) else None


def preview(
    content: PushContent,
    recipient: RecipientContext,
    personaliser: Personaliser,
    *,
    campaign_id: int = 0,
    platforms: tuple[Platform, ...] = (Platform.ANDROID, Platform.IOS, Platform.WEB),
) -> Preview:
    """``content`` as ``recipient`` would see it on each of ``platforms``."""
    rendered = personaliser.render_for(content, recipient)
    out: dict[Platform, PlatformPreview] = {}
    for platform in platforms:
        provider = PROVIDERS[platform]
        target = Target(0, campaign_id, platform, provider, _PREVIEW_TOKENS[provider],
                        {} if provider is Provider.WEBPUSH else None, recipient.label)
        limit = payload_limit(provider)
        try:
            request = build_request(rendered, target, 0)
        except ValidationError as exc:
            out[platform] = PlatformPreview(platform, shown_on(platform, rendered), None, 0, limit, error=str(exc))
            continue
        payload = _payload_of(request)
        sent_body = _body_of(request)
        trimmed = not rendered.silent and sent_body is not None and sent_body != rendered.body
        shown_content = rendered if not trimmed else _with_body(rendered, sent_body or "")
        out[platform] = PlatformPreview(platform, shown_on(platform, shown_content), payload, len(payload), limit,
                                        body_trimmed=trimmed)
    return Preview(recipient.label, recipient.locale, rendered, out)


def _with_body(content: PushContent, body: str) -> PushContent:
    return content.rendered({"body": body})
