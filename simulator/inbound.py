"""What a protocol service hands the fleet: one push, already authenticated, parsed and decrypted.

The three services (``simulator/services``) each turn their wire format into an ``InboundPush`` and call
``PushSink.accept``; the fleet (``simulator/fleet.py``) decides what the device does with it and answers
with an ``Acceptance`` that the service maps back onto its protocol's status codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from core.domain import Provider


class PushKind(StrEnum):
    """How the device's app code treats the push."""

    NOTIFICATION = "notification"  # shown in the tray
    DATA = "data"  # handed to the app silently (FCM data-only, APNs background, Web Push without UI)


@dataclass(frozen=True, slots=True)
class Button:
    """An action button on a notification."""

    id: str
    label: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedNotification:
    """What a tray shows, as the platform would draw it (before platform truncation)."""

    title: str = ""
    subtitle: str = ""
    body: str = ""
    image: str | None = None
    icon: str | None = None
    buttons: tuple[Button, ...] = ()
    deep_link: str | None = None
    badge: int | None = None
    sound: str | None = None
    #: Android ``tag``, APNs collapse id, Web Push ``tag``: replaces a *displayed* notification.
    tray_key: str | None = None
    channel: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class InboundPush:
    """One accepted push request, as a service saw it on the wire."""

    provider: Provider
    #: The FCM/APNs token or the Web Push subscription id the request was addressed to.
    token: str
    #: The id the service answered with (FCM ``name``, ``apns-id``, Web Push ``Location``).
    message_id: str
    kind: PushKind
    received_at: datetime
    notification: RenderedNotification | None = None
    #: Custom data: FCM ``data`` (strings), APNs payload minus ``aps``, Web Push JSON ``data``/``herald``.
    data: dict[str, Any] = field(default_factory=dict)
    #: FCM ``collapse_key``, APNs collapse id, Web Push ``Topic``: replaces a *pending* message.
    collapse_key: str | None = None
    #: When the message stops being worth delivering; None means "now or never" (TTL 0 / expiration 0).
    expires_at: datetime | None = None
    priority: str = "normal"
    #: Size of the payload the device received, in bytes (after decryption for Web Push).
    size: int = 0


class AcceptanceStatus(StrEnum):
    """The fleet's verdict on an addressed push."""

    ACCEPTED = "accepted"
    UNKNOWN_TOKEN = "unknown_token"  # never existed: FCM 400/404, APNs 400 BadDeviceToken, Web Push 404
    UNREGISTERED = "unregistered"  # app uninstalled / subscription gone: FCM 404, APNs 410, Web Push 410
    DEVICE_RATE_LIMITED = "device_rate_limited"  # FCM per-device quota: 429


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The answer to ``PushSink.accept``; ``unregistered_at`` is set for UNREGISTERED."""

    status: AcceptanceStatus
    unregistered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebPushKeys:
    """What the Web Push service needs to check and decrypt a message for one subscription.

    Kept as raw bytes so 100k devices stay small; key objects are built on demand.
    """

    #: The subscription's P-256 private key as a 32-byte big-endian scalar.
    private_key: bytes
    #: The subscription's public key (``keys.p256dh``), 65-byte uncompressed point.
    public_key: bytes
    #: The 16-byte auth secret (``keys.auth``).
    auth_secret: bytes
    #: The VAPID public key the subscription was made with (``applicationServerKey``), 65 bytes.
    application_server_key: bytes


class PushSink(Protocol):
    """Where protocol services hand pushes (the fleet, or a recorder in unit tests)."""

    def accept(self, push: InboundPush) -> Acceptance:
        """Take one push for its device; never blocks on I/O."""
        ...

    def webpush_keys(self, subscription_id: str) -> WebPushKeys | None:
        """The keys of a Web Push subscription, or None when no such subscription ever existed."""
        ...
