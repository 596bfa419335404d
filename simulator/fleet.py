"""The fleet: every virtual device, addressed by token or subscription, as the protocol services see it.

``Fleet`` implements ``simulator.inbound.PushSink``. ``accept`` finds the device in O(1) (one dict per
provider), answers UNKNOWN_TOKEN / UNREGISTERED (with the uninstall time; retired tokens keep answering it)
/ DEVICE_RATE_LIMITED (FCM, 240 a minute per device), and otherwise hands the push to the device, which
shows it or queues it while offline. A displayed notification is given to the ``BehaviourModel``, whose
reaction (click, dismiss, conversion, opt-out) is scheduled on the injected clock and carried out by
``run_due()``: called by ``start()``'s background task in a live run, or by a test after moving a
``ManualClock``.

Every step becomes a ``FleetEvent``: kept in a bounded history (``events()``), handed synchronously to
listeners (the SDK reporter) and put on the asyncio queues of subscribers (the console, the control API's
stream). ``stats()`` gives per-platform device counts and totals plus fleet-wide per-second counters.

State changes mark devices dirty; ``save()`` writes only those to the ``DeviceStore``. All methods are safe
to call from several threads (one lock); listeners run under it and must be quick.

A process that holds a large fleet should call ``gc.collect(); gc.freeze()`` once the fleet is loaded:
otherwise every full garbage collection walks all devices, which triples the cost of ``accept`` at 100,000
devices. Per-second counters list only seconds in which something happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from core.clock import Clock
from core.domain import Platform, Provider
from simulator.behaviour import BehaviourModel, Reaction, ReactionKind
from simulator.device import (
    DeviceOutcome,
    RetiredAddress,
    Step,
    VirtualDevice,
    WebPushSubscription,
    new_apns_token,
    new_fcm_token,
)
from simulator.inbound import Acceptance, AcceptanceStatus, InboundPush, WebPushKeys
from simulator.store import DeviceStore

DEFAULT_MIX: Mapping[Platform, float] = {Platform.ANDROID: 0.5, Platform.IOS: 0.35, Platform.WEB: 0.15}
DEFAULT_PROVIDER: Mapping[Platform, Provider] = {
    Platform.ANDROID: Provider.FCM,
    Platform.IOS: Provider.APNS,
    Platform.WEB: Provider.WEBPUSH,
}
#: (locale, time zone) pairs new devices are drawn from.
REGIONS = (
    ("en-US", "America/New_York"), ("en-US", "America/Los_Angeles"), ("en-GB", "Europe/London"),
    ("de-DE", "Europe/Berlin"), ("fr-FR", "Europe/Paris"), ("es-ES", "Europe/Madrid"),
    ("pt-BR", "America/Sao_Paulo"), ("ja-JP", "Asia/Tokyo"), ("en-IN", "Asia/Kolkata"),
    ("en-AU", "Australia/Sydney"),
)
APP_VERSIONS: Mapping[Platform, tuple[str, ...]] = {
    Platform.ANDROID: ("5.2.0", "5.3.1", "5.4.0"),
    Platform.IOS: ("5.2.0", "5.3.0", "5.4.0"),
    Platform.WEB: ("web-2026.01", "web-2026.02"),
}
#: What the per-second counters and per-platform totals count.
COUNTED = ("received", "displayed", "clicked", "dismissed", "recalled", "converted")
#: Fleet event names beyond the ``Step`` values.
REGISTERED, ONLINE, OFFLINE, CONVERTED = "registered", "online", "offline", "converted"
UNINSTALLED, REINSTALLED, OPTED_OUT, OPTED_IN = "uninstalled", "reinstalled", "opted_out", "opted_in"

_ACCEPTED = Acceptance(AcceptanceStatus.ACCEPTED)
_UNKNOWN = Acceptance(AcceptanceStatus.UNKNOWN_TOKEN)
_RATE_LIMITED = Acceptance(AcceptanceStatus.DEVICE_RATE_LIMITED)
_COUNTED_STEPS = {Step.DISPLAYED: "displayed", Step.CLICKED: "clicked", Step.DISMISSED: "dismissed",
                  Step.RECALLED: "recalled"}
_STEP_NAMES = {s: s.value for s in Step}


class UnknownDevice(LookupError):
    """No device has that id."""


class FleetEvent(NamedTuple):
    """Something that happened on a device: a ``Step`` of a message, or a device event."""

    seq: int
    at: datetime
    device_id: int
    platform: Platform
    name: str
    message_id: str | None = None
    delivery_id: int | None = None
    campaign_id: str | None = None
    button: str | None = None
    revenue: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at.isoformat(), "device_id": self.device_id,
            "platform": self.platform.value, "name": self.name, "message_id": self.message_id,
            "delivery_id": self.delivery_id, "campaign_id": self.campaign_id, "button": self.button,
            "revenue": self.revenue,
        }


FleetListener = Callable[[FleetEvent, VirtualDevice], None]
#: A scheduled reaction: (due epoch s, seq, device, message id, reaction, is conversion, delivery, campaign).
_Due = tuple[float, int, int, str, Reaction, bool, int | None, str | None]


class Fleet:
    """All virtual devices, the ``PushSink`` the protocol services deliver to."""

    def __init__(
        self,
        clock: Clock,
        behaviour: BehaviourModel | None = None,
        *,
        store: DeviceStore | None = None,
        application_server_key: bytes | None = None,
        fleet_id: str | None = None,
        history: int = 20_000,
    ) -> None:
        self.clock = clock
        self.behaviour = behaviour
        self.store = store
        self.application_server_key = application_server_key
        self.fleet_id = fleet_id or uuid.uuid4().hex[:8]
        self.rejections: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._devices: dict[int, VirtualDevice] = {}
        self._last_id = 0
        self._by_address: dict[Provider, dict[str, VirtualDevice]] = {p: {} for p in Provider}
        self._retired: dict[Provider, dict[str, RetiredAddress]] = {p: {} for p in Provider}
        self._dirty: set[int] = set()
        self._new_retired: list[RetiredAddress] = []
        self._due: list[_Due] = []
        self._seq = itertools.count(1)
        self._history: deque[FleetEvent] = deque(maxlen=history)
        self._listeners: list[FleetListener] = []
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, int, asyncio.Queue[FleetEvent]]] = []
        self._totals = {p: dict.fromkeys(COUNTED, 0) for p in Platform}
        self._second = 0
        self._count_at: datetime | None = None
        self._current = dict.fromkeys(COUNTED, 0)
        self._seconds: deque[tuple[int, dict[str, int]]] = deque(maxlen=600)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def open(
        cls,
        state_dir: Path,
        clock: Clock,
        behaviour: BehaviourModel | None = None,
        *,
        application_server_key: bytes | None = None,
    ) -> Fleet:
        """The fleet kept in ``state_dir``, with every device it had when it last saved."""
        store = DeviceStore.in_dir(state_dir)
        fleet_id = store.get_meta("fleet_id")
        if fleet_id is None:
            fleet_id = uuid.uuid4().hex[:8]
            store.set_meta("fleet_id", fleet_id)
        fleet = cls(clock, behaviour, store=store, application_server_key=application_server_key,
                    fleet_id=fleet_id)
        devices, retired = store.load()
        for device in devices:
            fleet._index(device)
        for old in retired:
            fleet._retired[old.provider][old.address] = old
        return fleet

    def _index(self, device: VirtualDevice) -> None:
        self._devices[device.id] = device
        self._last_id = max(self._last_id, device.id)
        if device.address:
            self._by_address[device.provider][device.address] = device

    def __len__(self) -> int:
        return len(self._devices)

    def devices(self) -> Iterator[VirtualDevice]:
        """Every device in id order (a snapshot: safe while others add devices)."""
        with self._lock:
            return iter(list(self._devices.values()))

    def device(self, device_id: int) -> VirtualDevice:
        found = self._devices.get(device_id)
        if found is None:
            raise UnknownDevice(device_id)
        return found

    def by_address(self, provider: Provider, address: str) -> VirtualDevice | None:
        return self._by_address[provider].get(address)

    # -- PushSink ---------------------------------------------------------------------------------------

    def accept(self, push: InboundPush) -> Acceptance:
        """Take one push for its device (see the module docstring for the answers)."""
        with self._lock:
            device = self._by_address[push.provider].get(push.token)
            if device is None:
                old = self._retired[push.provider].get(push.token)
                self.rejections["unregistered" if old else "unknown_token"] += 1
                return _UNKNOWN if old is None else Acceptance(AcceptanceStatus.UNREGISTERED, old.at)
            if not device.installed:
                self.rejections["unregistered"] += 1
                return Acceptance(AcceptanceStatus.UNREGISTERED, device.uninstalled_at)
            if push.provider is Provider.FCM and not device.take_rate_slot(push.received_at.timestamp()):
                self.rejections["device_rate_limited"] += 1
                return _RATE_LIMITED
            now = self.clock.now()
            outcomes = device.receive(push, now)
            self._count(device.platform, "received", now)
            self._apply(device, outcomes, now)
            return _ACCEPTED

    def webpush_keys(self, subscription_id: str) -> WebPushKeys | None:
        device = self._by_address[Provider.WEBPUSH].get(subscription_id)
        if device is not None and device.subscription is not None:
            return device.subscription.keys
        old = self._retired[Provider.WEBPUSH].get(subscription_id)
        return old.subscription.keys if old is not None and old.subscription is not None else None

    # -- population -------------------------------------------------------------------------------------

    def create(
        self, n: int, mix: Mapping[Platform, float] | None = None, seed: int = 0
    ) -> list[VirtualDevice]:
        """Add ``n`` devices, one user each, platforms drawn by ``mix``; same seed, same devices."""
        weights = dict(mix or DEFAULT_MIX)
        platforms = list(weights)
        cumulative = list(itertools.accumulate(weights[p] for p in platforms))
        with self._lock:
            rng = random.Random(f"fleet|{seed}|{self._next_id()}")
            made = []
            for _ in range(n):
                platform = rng.choices(platforms, cum_weights=cumulative)[0]
                locale, tz = rng.choice(REGIONS)
                made.append(self._add(
                    f"sim-{self._next_id():06d}", platform, DEFAULT_PROVIDER[platform], locale, tz,
                    rng.choice(APP_VERSIONS[platform]), rng,
                ))
            return made

    def add_device(
        self,
        user: str,
        platform: Platform,
        provider: Provider | None = None,
        *,
        locale: str = "en-US",
        timezone: str = "UTC",
        app_version: str | None = None,
        seed: int | str = 0,
    ) -> VirtualDevice:
        """Add one device for ``user`` (e.g. from a demo population); its address is drawn from ``seed``."""
        with self._lock:
            rng = random.Random(f"device|{seed}|{user}|{self._next_id()}")
            return self._add(user, platform, provider or DEFAULT_PROVIDER[platform], locale, timezone,
                             app_version or APP_VERSIONS[platform][-1], rng)

    def _next_id(self) -> int:
        return self._last_id + 1

    def _add(self, user: str, platform: Platform, provider: Provider, locale: str, tz: str, version: str,
             rng: random.Random) -> VirtualDevice:
        device = VirtualDevice(self._next_id(), platform, provider, user, locale, tz, version)
        self._give_address(device, rng)
        self._index(device)
        self._dirty.add(device.id)
        self._emit(device, REGISTERED, self.clock.now())
        return device

    def _give_address(self, device: VirtualDevice, rng: random.Random) -> None:
        taken = self._by_address[device.provider]
        while True:
            if device.provider is Provider.WEBPUSH:
                if self.application_server_key is None:
                    raise ValueError("Web Push devices need the application_server_key (VAPID public key)")
                device.subscription = WebPushSubscription.generate(rng, self.application_server_key)
            else:
                device.token = new_apns_token(rng) if device.provider is Provider.APNS else new_fcm_token(rng)
            if device.address not in taken and device.address not in self._retired[device.provider]:
                return

    # -- actions ----------------------------------------------------------------------------------------

    def click(self, device_id: int, message_id: str | None = None, delivery_id: int | None = None,
              button: str | None = None) -> FleetEvent | None:
        """Tap a notification (the newest when none is named); None when there is no such notification."""
        with self._lock:
            device = self.device(device_id)
            entry = device.find(message_id, delivery_id)
            outcome = device.click(entry, button) if entry is not None else None
            return None if outcome is None else self._apply(device, [outcome], self.clock.now())

    def dismiss(self, device_id: int, message_id: str | None = None,
                delivery_id: int | None = None) -> FleetEvent | None:
        """Swipe a notification away (the newest when none is named)."""
        with self._lock:
            device = self.device(device_id)
            entry = device.find(message_id, delivery_id)
            outcome = device.dismiss(entry) if entry is not None else None
            return None if outcome is None else self._apply(device, [outcome], self.clock.now())

    def set_online(self, device_id: int, online: bool) -> None:
        """Connect (pending messages arrive) or disconnect (pushes queue at the provider)."""
        with self._lock:
            device = self.device(device_id)
            if device.online == online:
                return
            now = self.clock.now()
            self._dirty.add(device_id)
            if online:
                self._emit(device, ONLINE, now)
                self._apply(device, device.connect(now), now)
            else:
                device.disconnect()
                self._emit(device, OFFLINE, now)

    def uninstall(self, device_id: int) -> None:
        """Remove the app: its notifications go and its address answers "unregistered" from now on."""
        with self._lock:
            device = self.device(device_id)
            if device.installed:
                now = self.clock.now()
                device.uninstall(now)
                self._dirty.add(device_id)
                self._emit(device, UNINSTALLED, now)

    def reinstall(self, device_id: int) -> VirtualDevice:
        """Install the app again: a new token or subscription, registered with Herald anew."""
        with self._lock:
            device = self.device(device_id)
            now = self.clock.now()
            self._retire(device, device.uninstalled_at or now)
            rng = random.Random(f"reinstall|{device.id}|{device.generation + 1}|{self.fleet_id}")
            if device.subscription is not None and self.application_server_key is None:
                self.application_server_key = device.subscription.keys.application_server_key
            device.uninstall(now)
            self._give_address(device, rng)
            device.reinstall(device.token, device.subscription)
            self._index(device)
            self._dirty.add(device_id)
            self._emit(device, REINSTALLED, now)
            return device

    def opt_out(self, device_id: int) -> None:
        """Turn push permission off; a browser also drops its subscription (410 Gone from then on)."""
        with self._lock:
            device = self.device(device_id)
            if device.push_enabled:
                self._opt_out(device, self.clock.now())

    def _opt_out(self, device: VirtualDevice, at: datetime) -> None:
        device.push_enabled = False
        if device.provider is Provider.WEBPUSH:
            self._retire(device, at)
            device.subscription = None
        self._dirty.add(device.id)
        self._emit(device, OPTED_OUT, at)

    def opt_in(self, device_id: int) -> None:
        """Turn push permission back on; a browser subscribes again and registers the new subscription."""
        with self._lock:
            device = self.device(device_id)
            if device.push_enabled:
                return
            now = self.clock.now()
            device.push_enabled = True
            if device.provider is Provider.WEBPUSH and device.subscription is None:
                rng = random.Random(f"optin|{device.id}|{now.timestamp()}|{self.fleet_id}")
                self._give_address(device, rng)
                self._index(device)
                self._emit(device, REGISTERED, now)
            self._dirty.add(device_id)
            self._emit(device, OPTED_IN, now)

    def _retire(self, device: VirtualDevice, at: datetime) -> None:
        if not device.address:
            return
        old = RetiredAddress(device.provider, device.address, device.id, at, device.subscription)
        self._by_address[device.provider].pop(device.address, None)
        self._retired[device.provider][old.address] = old
        self._new_retired.append(old)

    # -- outcomes, reactions and events -----------------------------------------------------------------

    def _apply(
        self, device: VirtualDevice, outcomes: list[DeviceOutcome], now: datetime
    ) -> FleetEvent | None:
        last = None
        for o in outcomes:
            step = o.step
            last = self._emit(device, _STEP_NAMES[step], now, o.message_id, o.delivery_id, o.campaign_id,
                              o.button)
            counted = _COUNTED_STEPS.get(step)
            if counted is not None:
                self._count(device.platform, counted, now)
                if step is Step.DISPLAYED and self.behaviour is not None:
                    self._schedule_reaction(device, o, now)
        return last

    def _schedule_reaction(self, device: VirtualDevice, o: DeviceOutcome, now: datetime) -> None:
        assert self.behaviour is not None
        entry = device.find(o.message_id)
        if entry is None:
            return
        key = o.delivery_id if o.delivery_id is not None else o.message_id
        reaction = self.behaviour.react(device_id=device.id, user=device.user, timezone=device.timezone,
                                        delivery_key=key, note=entry.notification, at=now)
        if reaction.kind is not ReactionKind.IGNORE:
            heapq.heappush(self._due, (now.timestamp() + reaction.delay_s, next(self._seq), device.id,
                                       o.message_id, reaction, False, o.delivery_id, o.campaign_id))

    def next_due(self) -> datetime | None:
        """When the next scheduled reaction is due, if any."""
        with self._lock:
            return datetime.fromtimestamp(self._due[0][0], UTC) if self._due else None

    def run_due(self) -> int:
        """Carry out every scheduled reaction due by the clock's now, in due order; returns how many."""
        done = 0
        with self._lock:
            limit = self.clock.now().timestamp()
            while self._due and self._due[0][0] <= limit:
                at, _, device_id, message_id, reaction, conversion, delivery_id, campaign_id = heapq.heappop(
                    self._due)
                device = self._devices.get(device_id)
                if device is None:
                    continue
                when = datetime.fromtimestamp(at, UTC)
                done += 1
                if conversion:
                    self._emit(device, CONVERTED, when, message_id, delivery_id, campaign_id,
                               revenue=reaction.revenue)
                    self._count(device.platform, "converted", when)
                    continue
                entry = device.find(message_id)
                if entry is None:
                    continue
                if reaction.kind is ReactionKind.CLICK:
                    self._apply(device, [o for o in [device.click(entry, reaction.button)] if o], when)
                    if reaction.converts:
                        heapq.heappush(self._due, (at + reaction.convert_delay_s, next(self._seq), device_id,
                                                   message_id, reaction, True, delivery_id, campaign_id))
                else:
                    self._apply(device, [o for o in [device.dismiss(entry)] if o], when)
                    if reaction.uninstalls:
                        device.uninstall(when)
                        self._dirty.add(device.id)
                        self._emit(device, UNINSTALLED, when)
                    elif reaction.opts_out and device.push_enabled:
                        self._opt_out(device, when)
        return done

    def _count(self, platform: Platform, name: str, at: datetime) -> None:
        self._totals[platform][name] += 1
        if at is self._count_at:
            second = self._second
        else:
            self._count_at = at
            second = int(at.timestamp())
        if second != self._second:
            if self._second and any(self._current.values()):
                self._seconds.append((self._second, self._current))
            self._second, self._current = second, dict.fromkeys(COUNTED, 0)
        self._current[name] += 1

    def _emit(self, device: VirtualDevice, name: str, at: datetime, message_id: str | None = None,
              delivery_id: int | None = None, campaign_id: str | None = None, button: str | None = None,
              revenue: float | None = None) -> FleetEvent:
        event = FleetEvent(next(self._seq), at, device.id, device.platform, name, message_id, delivery_id,
                           campaign_id, button, revenue)
        self._history.append(event)
        for listener in self._listeners:
            listener(event, device)
        if self._subscribers:
            self._publish(event)
        return event

    def _publish(self, event: FleetEvent) -> None:
        here = threading.get_ident()
        for loop, thread, queue in list(self._subscribers):
            if loop.is_closed():
                self._subscribers.remove((loop, thread, queue))
            elif thread == here:
                _offer(queue, event)
            else:
                loop.call_soon_threadsafe(_offer, queue, event)

    # -- observation ------------------------------------------------------------------------------------

    def add_listener(self, listener: FleetListener) -> None:
        """Call ``listener(event, device)`` for every fleet event, synchronously, under the fleet's lock."""
        self._listeners.append(listener)

    def subscribe(self, maxsize: int = 10_000) -> asyncio.Queue[FleetEvent]:
        """A queue of fleet events on the running loop; events are dropped for it while it is full."""
        queue: asyncio.Queue[FleetEvent] = asyncio.Queue(maxsize)
        with self._lock:
            self._subscribers.append((asyncio.get_running_loop(), threading.get_ident(), queue))
        return queue

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def unsubscribe(self, queue: asyncio.Queue[FleetEvent]) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[2] is not queue]

    def events(self, device_id: int | None = None, limit: int = 100) -> list[FleetEvent]:
        """The newest ``limit`` events still in the history (of one device, when given), oldest first."""
        with self._lock:
            found = [e for e in reversed(self._history) if device_id is None or e.device_id == device_id]
        return found[:limit][::-1]

    def stats(self, seconds: int = 60) -> dict[str, Any]:
        """Device counts and totals per platform, rejections, and the last ``seconds`` per-second counts."""
        with self._lock:
            devices = {p.value: dict.fromkeys(("total", "online", "installed", "push_enabled", "tray",
                                               "pending"), 0) for p in Platform}
            for d in self._devices.values():
                row = devices[d.platform.value]
                row["total"] += 1
                row["online"] += d.online
                row["installed"] += d.installed
                row["push_enabled"] += d.push_enabled
                row["tray"] += len(d.tray) if d.tray else 0
                row["pending"] += len(d.pending) if d.pending else 0
            series = [*self._seconds, (self._second, self._current)] if self._second else list(self._seconds)
            return {
                "devices": devices,
                "totals": {p.value: dict(t) for p, t in self._totals.items()},
                "rejected": dict(self.rejections),
                "per_second": [{"t": s, **dict(c)} for s, c in series[-seconds:]],
                "scheduled": len(self._due),
            }

    # -- persistence and the live loop ------------------------------------------------------------------

    def save(self) -> int:
        """Write new and changed devices (and newly retired addresses) to the store; returns rows written."""
        if self.store is None:
            return 0
        with self._lock:
            changed = [self._devices[i] for i in self._dirty if i in self._devices]
            retired, self._new_retired = self._new_retired, []
            self._dirty = set()
        return self.store.save(changed, retired)

    async def start(self, *, tick: float = 0.05, save_every: float = 2.0) -> None:
        """Carry out reactions as they fall due and save changes every ``save_every`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(tick, save_every), name="fleet-reactions")

    async def _run(self, tick: float, save_every: float) -> None:
        last_save = self.clock.monotonic()
        while True:
            self.run_due()
            if self.clock.monotonic() - last_save >= save_every:
                await asyncio.to_thread(self.save)
                last_save = self.clock.monotonic()
            await asyncio.sleep(tick)

    async def stop(self) -> None:
        """Stop the background task and save what changed."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.save()

    def close(self) -> None:
        """Save and close the store (after ``stop``)."""
        self.save()
        if self.store is not None:
            self.store.close()


def _offer(queue: asyncio.Queue[FleetEvent], event: FleetEvent) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(event)
