"""One virtual device: its address, its provider-side pending queue, its tray and the app code on it.

A ``VirtualDevice`` is pure logic: it never does I/O and never reads a clock; every method takes ``now``.
Each method returns ``DeviceOutcome`` values that say what happened (delivered, displayed, recalled …), and
the fleet turns those into SDK reports and fleet events.

**Pending queue** (what the provider keeps while the device is offline), per provider as PROTOCOLS.md says:

* every provider: a push whose ``expires_at`` is None ("now or never": TTL 0, ``apns-expiration: 0``) is
  dropped when the device is offline; on reconnect, entries whose ``expires_at`` has passed are expired;
* FCM: a ``collapse_key`` replaces the pending message with the same key; at most 4 collapse keys are
  stored (a fifth evicts the oldest collapsible message); non-collapsible messages past 100 are dropped;
* APNs: one pending notification per app; a newer push always replaces it;
* Web Push: ``Topic`` replaces the pending message with the same topic; past 100 pending the new one is
  dropped (push services bound storage too).

On reconnect the surviving messages arrive in the order they were accepted (a replacement takes the place
of the newest). A recall that waited in the queue drops the notifications queued before it that it names:
they are reported recalled and never shown.

**Tray** (what the user sees): a notification with the same ``tray_key`` (Android ``tag``, APNs collapse
id, Web Push ``tag``) replaces the displayed one; a message id or Herald delivery id seen before is a
duplicate and is not shown again (a resend of one delivery collapses); at most 50 entries, oldest first
out. A device whose user turned push permission off receives pushes but shows nothing.

**App code** (the Herald SDK on the device, ``core.domain.push_contract``): a recall data message removes
the tray entries whose tray key or delivery id it names; a clicked or dismissed one is already gone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.domain import Platform, Provider
from core.domain import push_contract as contract
from simulator.inbound import InboundPush, PushKind, RenderedNotification, WebPushKeys

#: Path of a subscription endpoint on the Web Push service (as ``SimulatorProfile.webpush_endpoint``).
ENDPOINT_PREFIX = "/push/"
MAX_FCM_COLLAPSE_KEYS = 4
MAX_FCM_NON_COLLAPSIBLE = 100
MAX_WEBPUSH_PENDING = 100
MAX_TRAY = 50
#: Message ids and delivery ids a device remembers for de-duplication.
SEEN_MEMORY = 64
#: FCM's per-device quota: 240 messages a minute, refilled continuously.
FCM_DEVICE_RATE_PER_MINUTE = 240.0

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class Step(StrEnum):
    """What happened to one message on one device."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    DISPLAYED = "displayed"
    CLICKED = "clicked"
    DISMISSED = "dismissed"
    RECALLED = "recalled"
    #: Left the tray because a newer notification with the same tray key took its place.
    REPLACED = "replaced"
    #: Left the pending queue because a newer message with the same collapse key took its place.
    COLLAPSED = "collapsed"
    EXPIRED = "expired"
    DROPPED = "dropped"
    DUPLICATE = "duplicate"


class HeraldMeta(NamedTuple):
    """Herald's part of a push payload, read the way the SDK on each platform reads it."""

    type: str = contract.TYPE_MESSAGE
    delivery_id: int | None = None
    campaign_id: str | None = None
    recall_keys: frozenset[str] = frozenset()
    recall_ids: frozenset[int] = frozenset()

    @property
    def is_recall(self) -> bool:
        return self.type == contract.TYPE_RECALL

    @classmethod
    def parse(cls, data: dict[str, Any]) -> HeraldMeta:
        """Read FCM string data (``herald_*``) or an APNs / Web Push ``"herald"`` object."""
        herald = data.get(contract.HERALD_KEY)
        if herald is None and (contract.FCM_TYPE in data or contract.FCM_DELIVERY_ID in data):
            kind = str(data.get(contract.FCM_TYPE) or contract.TYPE_MESSAGE)
            delivery_id = _as_int(data.get(contract.FCM_DELIVERY_ID))
            campaign_id = _as_str(data.get(contract.FCM_CAMPAIGN_ID))
            if kind != contract.TYPE_RECALL:
                return cls(kind, delivery_id, campaign_id)
            return cls(
                kind, delivery_id, campaign_id,
                frozenset(_split(data.get(contract.FCM_RECALL_TAGS))),
                _ids(_split(data.get(contract.FCM_RECALL_IDS))),
            )
        if not isinstance(herald, dict):
            nested = data.get("data")
            herald = nested.get(contract.HERALD_KEY) if isinstance(nested, dict) else None
        if not isinstance(herald, dict):
            return _NO_META
        kind = str(herald.get("type") or contract.TYPE_MESSAGE)
        delivery_id = _as_int(herald.get("delivery_id"))
        campaign_id = _as_str(herald.get("campaign_id"))
        if kind != contract.TYPE_RECALL:
            return cls(kind, delivery_id, campaign_id)
        keys = [*_as_list(herald.get("tags")), *_as_list(herald.get("collapse_ids"))]
        return cls(
            kind, delivery_id, campaign_id,
            frozenset(str(k) for k in keys),
            _ids(_as_list(herald.get("delivery_ids"))),
        )

    def names(self, tray_key: str | None, delivery_id: int | None) -> bool:
        """Whether this recall names a notification with that tray key or delivery id."""
        return (tray_key is not None and tray_key in self.recall_keys) or (
            delivery_id is not None and delivery_id in self.recall_ids
        )


_NO_META = HeraldMeta()


def _as_int(value: object) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _ids(values: list[str] | list[object]) -> frozenset[int]:
    return frozenset(i for i in map(_as_int, values) if i is not None)


def _as_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _split(value: object) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else []


def _as_list(value: object) -> list[object]:
    if isinstance(value, list | tuple):
        return list(value)
    return [] if value is None else [value]


class DeviceOutcome(NamedTuple):
    """One step of one message on a device; ``button`` is set for a click on an action button."""

    step: Step
    message_id: str
    delivery_id: int | None
    campaign_id: str | None
    button: str | None = None


@dataclass(slots=True, eq=False)
class PendingPush:
    """A message the provider holds for an offline device."""

    push: InboundPush
    meta: HeraldMeta


@dataclass(slots=True, eq=False)
class TrayEntry:
    """A notification on screen, as the platform shows it, with what the SDK knows about it."""

    notification: RenderedNotification
    message_id: str
    delivery_id: int | None
    campaign_id: str | None
    received_at: datetime
    displayed_at: datetime


@dataclass(frozen=True, slots=True)
class WebPushSubscription:
    """A browser's push subscription: its id (the endpoint's last segment) and its keys."""

    id: str
    keys: WebPushKeys

    @property
    def endpoint_path(self) -> str:
        return ENDPOINT_PREFIX + self.id

    @classmethod
    def generate(cls, rng: random.Random, application_server_key: bytes) -> WebPushSubscription:
        """A new subscription with a P-256 key pair and auth secret drawn from ``rng``."""
        scalar = rng.getrandbits(256) % (_P256_ORDER - 1) + 1
        private = ec.derive_private_key(scalar, ec.SECP256R1())
        public = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        keys = WebPushKeys(scalar.to_bytes(32, "big"), public, rng.randbytes(16), application_server_key)
        return cls(_b64url(rng, 27), keys)


def _b64url(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(_B64URL, k=length))


def new_fcm_token(rng: random.Random) -> str:
    """A registration token shaped like FCM's: ``<instance id>:APA91b<152 chars>``."""
    return f"{_b64url(rng, 22)}:APA91b{_b64url(rng, 134)}"


def new_apns_token(rng: random.Random) -> str:
    """A device token shaped like APNs': 64 hex digits."""
    return rng.randbytes(32).hex()


@dataclass(slots=True, eq=False)
class VirtualDevice:
    """A phone or browser with one app (or site) that uses Herald's SDK.

    ``token`` is set for FCM and APNs devices, ``subscription`` for Web Push ones. ``pending``, ``tray``
    and ``seen`` stay None until first used so that a fleet of 100,000 idle devices stays small.
    """

    id: int
    platform: Platform
    provider: Provider
    user: str
    locale: str
    timezone: str
    app_version: str
    token: str | None = None
    subscription: WebPushSubscription | None = None
    online: bool = True
    installed: bool = True
    uninstalled_at: datetime | None = None
    push_enabled: bool = True
    #: How many times the app was reinstalled (each install has its own token or subscription).
    generation: int = 0
    pending: list[PendingPush] | None = None
    tray: list[TrayEntry] | None = None
    seen: list[str | int] | None = None
    rate_tokens: float = FCM_DEVICE_RATE_PER_MINUTE
    rate_at: float = 0.0

    @property
    def address(self) -> str:
        """The token, or the Web Push subscription id: what a push is addressed to."""
        if self.subscription is not None:
            return self.subscription.id
        return self.token or ""

    def take_rate_slot(self, at: float) -> bool:
        """Spend one of FCM's per-device sends at epoch second ``at``; False when the quota is used up."""
        tokens = min(FCM_DEVICE_RATE_PER_MINUTE, self.rate_tokens + (at - self.rate_at) * 4.0)
        self.rate_at = at
        if tokens < 1.0:
            self.rate_tokens = tokens
            return False
        self.rate_tokens = tokens - 1.0
        return True

    def receive(self, push: InboundPush, now: datetime) -> list[DeviceOutcome]:
        """A push the provider accepted for this device: delivered now, or queued while offline."""
        meta = HeraldMeta.parse(push.data) if push.data else _NO_META
        if self.online:
            return self._deliver(push, meta, now)
        return self._enqueue(PendingPush(push, meta))

    def connect(self, now: datetime) -> list[DeviceOutcome]:
        """Come online: pending messages arrive in order, minus the expired and the recalled."""
        self.online = True
        queue, self.pending = self.pending or [], None
        outcomes: list[DeviceOutcome] = []
        alive: list[PendingPush] = []
        for item in queue:
            expires_at = item.push.expires_at
            if expires_at is not None and expires_at <= now:
                outcomes.append(_outcome(Step.EXPIRED, item))
            else:
                alive.append(item)
        for index, item in enumerate(alive):
            later_recalls = (p.meta for p in alive[index + 1 :] if p.meta.is_recall)
            note = item.push.notification
            tray_key = note.tray_key if note is not None else None
            recalled = any(r.names(tray_key, item.meta.delivery_id) for r in later_recalls)
            if recalled and not item.meta.is_recall:
                outcomes.append(_outcome(Step.RECALLED, item))
            else:
                outcomes.extend(self._deliver(item.push, item.meta, now))
        return outcomes

    def disconnect(self) -> None:
        self.online = False

    def _enqueue(self, item: PendingPush) -> list[DeviceOutcome]:
        if item.push.expires_at is None:
            return [_outcome(Step.DROPPED, item)]
        pending = self.pending if self.pending is not None else []
        self.pending = pending
        outcomes: list[DeviceOutcome] = []
        key = item.push.collapse_key
        if self.provider is Provider.APNS:
            outcomes.extend(_outcome(Step.COLLAPSED, old) for old in pending)
            pending.clear()
        elif key is not None:
            for old in [p for p in pending if p.push.collapse_key == key]:
                pending.remove(old)
                outcomes.append(_outcome(Step.COLLAPSED, old))
            if self.provider is Provider.FCM:
                keys = [p for p in pending if p.push.collapse_key is not None]
                if len({p.push.collapse_key for p in keys}) >= MAX_FCM_COLLAPSE_KEYS:
                    pending.remove(keys[0])
                    outcomes.append(_outcome(Step.COLLAPSED, keys[0]))
        elif self.provider is Provider.FCM:
            if sum(1 for p in pending if p.push.collapse_key is None) >= MAX_FCM_NON_COLLAPSIBLE:
                return [_outcome(Step.DROPPED, item)]
        elif len(pending) >= MAX_WEBPUSH_PENDING:
            return [_outcome(Step.DROPPED, item)]
        pending.append(item)
        outcomes.append(_outcome(Step.QUEUED, item))
        return outcomes

    def _deliver(self, push: InboundPush, meta: HeraldMeta, now: datetime) -> list[DeviceOutcome]:
        delivery_id = meta.delivery_id
        seen = self.seen if self.seen is not None else []
        self.seen = seen
        if push.message_id in seen or (delivery_id is not None and delivery_id in seen):
            return [DeviceOutcome(Step.DUPLICATE, push.message_id, delivery_id, meta.campaign_id)]
        seen.append(push.message_id)
        if delivery_id is not None:
            seen.append(delivery_id)
        if len(seen) > SEEN_MEMORY:
            del seen[: len(seen) - SEEN_MEMORY]
        outcomes = [DeviceOutcome(Step.DELIVERED, push.message_id, delivery_id, meta.campaign_id)]
        if meta.is_recall:
            outcomes.extend(self._recall(meta))
            return outcomes
        note = push.notification
        if push.kind is not PushKind.NOTIFICATION or note is None or not self.push_enabled:
            return outcomes
        tray = self.tray if self.tray is not None else []
        self.tray = tray
        key = note.tray_key
        if key is not None and tray:
            for old in [e for e in tray if e.notification.tray_key == key]:
                tray.remove(old)
                outcomes.append(_entry_outcome(Step.REPLACED, old))
        if len(tray) >= MAX_TRAY:
            outcomes.append(_entry_outcome(Step.REPLACED, tray.pop(0)))
        tray.append(TrayEntry(note, push.message_id, delivery_id, meta.campaign_id, push.received_at, now))
        outcomes.append(DeviceOutcome(Step.DISPLAYED, push.message_id, delivery_id, meta.campaign_id))
        return outcomes

    def _recall(self, meta: HeraldMeta) -> list[DeviceOutcome]:
        if not self.tray:
            return []
        gone = [e for e in self.tray if meta.names(e.notification.tray_key, e.delivery_id)]
        for entry in gone:
            self.tray.remove(entry)
        return [_entry_outcome(Step.RECALLED, entry) for entry in gone]

    def find(self, message_id: str | None = None, delivery_id: int | None = None) -> TrayEntry | None:
        """The tray entry with that message id or delivery id; with neither, the newest entry."""
        if not self.tray:
            return None
        if message_id is None and delivery_id is None:
            return self.tray[-1]
        for entry in self.tray:
            if (message_id is not None and entry.message_id == message_id) or (
                delivery_id is not None and entry.delivery_id == delivery_id
            ):
                return entry
        return None

    def click(self, entry: TrayEntry, button: str | None = None) -> DeviceOutcome | None:
        """The user taps the notification (or one of its buttons); it leaves the tray."""
        if not self.tray or entry not in self.tray:
            return None
        if button is not None and all(b.id != button for b in entry.notification.buttons):
            raise ValueError(f"the notification has no button {button!r}")
        self.tray.remove(entry)
        return _entry_outcome(Step.CLICKED, entry, button)

    def dismiss(self, entry: TrayEntry) -> DeviceOutcome | None:
        """The user swipes the notification away."""
        if not self.tray or entry not in self.tray:
            return None
        self.tray.remove(entry)
        return _entry_outcome(Step.DISMISSED, entry)

    def uninstall(self, now: datetime) -> None:
        """The app is removed: its notifications go, and its token answers "unregistered" from now on."""
        self.installed = False
        self.uninstalled_at = now
        self.tray = self.pending = self.seen = None

    def reinstall(self, token: str | None, subscription: WebPushSubscription | None) -> None:
        """The app is installed again with a fresh token or subscription."""
        self.installed = True
        self.uninstalled_at = None
        self.push_enabled = True
        self.generation += 1
        self.token = token
        self.subscription = subscription


def _outcome(step: Step, item: PendingPush) -> DeviceOutcome:
    return DeviceOutcome(step, item.push.message_id, item.meta.delivery_id, item.meta.campaign_id)


def _entry_outcome(step: Step, entry: TrayEntry, button: str | None = None) -> DeviceOutcome:
    return DeviceOutcome(step, entry.message_id, entry.delivery_id, entry.campaign_id, button)


@dataclass(frozen=True, slots=True)
class RetiredAddress:
    """A token or subscription the app no longer has: pushes to it answer "unregistered" since ``at``.

    A retired Web Push subscription keeps its keys so the service can still check and decrypt a message
    before answering 410 Gone.
    """

    provider: Provider
    address: str
    device_id: int
    at: datetime
    subscription: WebPushSubscription | None = None
