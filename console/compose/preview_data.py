"""What each platform would show for a push and how many bytes its payload takes (no Qt).

``platform_previews(content)`` answers, for Android, iOS and web: the notification as that platform draws
it (``core.domain.display``: truncation, dropped fields, buttons) and the exact size of the payload Herald
would send (``core.composer.payloads.build_request`` against a realistic device address) next to the
platform's limit. The drawn notification comes from ``core.composer.preview.shown_on`` (the rules the
simulator's tray uses too); unlike ``core.composer.preview.preview`` this also measures a payload that is
over its limit, so the meter can say by how much.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import orjson

from core.composer.content import PushContent
from core.composer.payloads import (
    APNS_MAX_BYTES,
    FCM_MAX_BYTES,
    WEBPUSH_MAX_PLAINTEXT,
    Target,
    build_request,
    json_bytes,
)
from core.composer.preview import shown_on
from core.domain import Platform, Provider
from core.domain.display import DisplayedNotification
from core.errors import PayloadTooLarge, ValidationError
from core.providers.base import ApnsRequest, FcmRequest, PushRequest

PLATFORMS: tuple[Platform, ...] = (Platform.ANDROID, Platform.IOS, Platform.WEB)
PROVIDER: dict[Platform, Provider] = {
    Platform.ANDROID: Provider.FCM, Platform.IOS: Provider.APNS, Platform.WEB: Provider.WEBPUSH,
}
LIMIT: dict[Platform, int] = {
    Platform.ANDROID: FCM_MAX_BYTES, Platform.IOS: APNS_MAX_BYTES, Platform.WEB: WEBPUSH_MAX_PLAINTEXT,
}
#: Addresses as long as real ones: an FCM registration token is ~163 characters and counts in the payload.
_TOKENS: dict[Platform, str] = {
    Platform.ANDROID: "fR3x" + "k" * 155 + ":APA",
    Platform.IOS: "a" * 64,
    Platform.WEB: "https://push.example/subscription",
}
#: Delivery and campaign ids as wide as a busy workspace's, so the meter does not flatter the payload.
_DELIVERY_ID = 12_345_678
_CAMPAIGN_ID = 4_321


@dataclass(frozen=True, slots=True)
class PlatformPreview:
    """One platform's view of the push.

    ``shown`` is None for a silent (data-only) push; ``size`` is the payload's bytes even when it is over
    ``limit``; ``trimmed`` says the body was cut to fit (``PushContent.trim_body``).
    """

    platform: Platform
    shown: DisplayedNotification | None
    size: int
    limit: int
    trimmed: bool = False
    error: str | None = None

    @property
    def ratio(self) -> float:
        """Share of the limit used (above 1.0 when over)."""
        return self.size / self.limit if self.limit else 0.0

    @property
    def over(self) -> bool:
        """True when the payload cannot be sent as it is."""
        return self.size > self.limit


def _target(platform: Platform) -> Target:
    subscription = {"endpoint": _TOKENS[platform], "keys": {"p256dh": "", "auth": ""}}
    return Target(_DELIVERY_ID, _CAMPAIGN_ID, platform, PROVIDER[platform], _TOKENS[platform],
                  subscription if platform is Platform.WEB else None)


def payload_size(request: PushRequest) -> int:
    """The bytes a request's payload takes, measured the way the size limits count them."""
    if isinstance(request, FcmRequest):
        return len(json_bytes({"message": {**request.message, "token": request.token}}))
    if isinstance(request, ApnsRequest):
        return len(request.payload)
    return len(request.payload)


def platform_previews(content: PushContent, now_epoch: int | None = None) -> dict[Platform, PlatformPreview]:
    """Android, iOS and web: what each shows and the size of what would be sent to it."""
    now = int(time.time()) if now_epoch is None else now_epoch
    out: dict[Platform, PlatformPreview] = {}
    for platform in PLATFORMS:
        limit = LIMIT[platform]
        shown_content = content
        trimmed = False
        error: str | None = None
        try:
            request = build_request(content, _target(platform), now)
            size = payload_size(request)
            if content.trim_body and content.body:
                untrimmed = _untrimmed_size(content, platform, now)
                if untrimmed > limit:
                    trimmed = True
                    shown_content = _with_trimmed_body(content, request)
        except PayloadTooLarge as exc:
            size = exc.size or limit + 1
        except ValidationError as exc:
            size, error = 0, str(exc)
        out[platform] = PlatformPreview(platform, shown_on(platform, shown_content), size, limit, trimmed, error)
    return out


def _untrimmed_size(content: PushContent, platform: Platform, now: int) -> int:
    try:
        return payload_size(build_request(dataclasses.replace(content, trim_body=False), _target(platform), now))
    except PayloadTooLarge as exc:
        return exc.size or LIMIT[platform] + 1


def _with_trimmed_body(content: PushContent, request: PushRequest) -> PushContent:
    """``content`` with the body the trimmed request actually carries."""
    body: object = None
    if isinstance(request, FcmRequest):
        body = (request.message.get("notification") or {}).get("body")
    else:
        document = orjson.loads(request.payload)
        body = (document.get("aps", {}).get("alert") or {}).get("body") if isinstance(request, ApnsRequest) \
            else document.get("body")
    return dataclasses.replace(content, body=body) if isinstance(body, str) else content
