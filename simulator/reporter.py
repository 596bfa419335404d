"""The Herald SDK on every virtual device: lifecycle reports to Herald's ingest API, over HTTP.

``SdkReporter`` listens to the fleet (``fleet.add_listener(reporter.on_fleet_event)``) and reports as a real
SDK would, to the collector of issue 2:

* ``POST {herald_url}/sdk/v1/events`` with ``X-Herald-Key``: batches of up to 500 events
  ``{"id", "user", "name", "at", "properties", "revenue"}``. Fleet steps map to SDK names: delivered,
  displayed, clicked, dismissed and recalled become ``push_*`` (with ``properties.delivery_id``,
  ``campaign_id``, ``platform`` and, for clicks, ``button``); a conversion becomes ``purchase`` with its
  revenue; opt-out/in, uninstall and reinstall become ``push_opt_out``, ``push_opt_in``,
  ``app_uninstalled`` and ``app_installed``. Steps the phone cannot know about (queued, collapsed, expired
  at the provider) and pushes without a Herald delivery id are not reported.
* ``POST {herald_url}/sdk/v1/devices`` for every new, reinstalled or re-subscribed device and whenever
  push permission changes: ``{"user", "platform", "provider", "token" | "subscription": {"endpoint",
  "keys": {"p256dh", "auth"}}, "app_version", "locale", "timezone", "push_enabled"}``, a few at a time
  (a browser that lost its subscription has nothing to register).

Event ids are derived from (fleet id, device, delivery, step), so a retried batch only produces duplicates
at the collector, never second rows. A batch that fails with a connection error, 408, 429 or 5xx is retried
(the same batch, with exponential backoff and ``Retry-After``) until it goes through; any other 4xx is
counted and dropped. The buffer is bounded (``max_buffer`` events; the oldest are dropped and counted when
Herald stays away too long). ``stop()`` flushes what is buffered within a deadline.

Wiring, in the run mode (after the services are up, so the Web Push origin is known)::

    reporter = SdkReporter(herald_url, sdk_key, fleet_id=fleet.fleet_id,
                           webpush_base_url=profile.webpush_base_url)
    fleet.add_listener(reporter.on_fleet_event)
    await reporter.start()
    ...
    await reporter.stop()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx

from simulator.device import VirtualDevice
from simulator.fleet import OPTED_IN, OPTED_OUT, REGISTERED, REINSTALLED, FleetEvent

#: Fleet event names reported to Herald, and their SDK event names.
SDK_NAMES = {
    "delivered": "push_delivered",
    "displayed": "push_displayed",
    "clicked": "push_clicked",
    "dismissed": "push_dismissed",
    "recalled": "push_recalled",
    "converted": "purchase",
    "opted_out": "push_opt_out",
    "opted_in": "push_opt_in",
    "uninstalled": "app_uninstalled",
    "reinstalled": "app_installed",
}
_PUSH_SCOPED = {"delivered", "displayed", "clicked", "dismissed", "recalled", "converted"}
_TRANSIENT_STATUS = {408, 429}
#: Fleet events after which the SDK (re-)registers the device: new address, or push permission changed.
_REGISTERING = {REGISTERED, REINSTALLED, OPTED_OUT, OPTED_IN}
EVENTS_PATH = "/sdk/v1/events"
DEVICES_PATH = "/sdk/v1/devices"


@dataclass(slots=True)
class ReporterStats:
    """What the reporter has done so far."""

    queued: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    retries: int = 0
    registered: int = 0
    registration_failures: int = 0
    last_error: str | None = None
    rejections: list[dict[str, Any]] = field(default_factory=list)


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _campaign(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def sdk_event(fleet_id: str, event: FleetEvent, device: VirtualDevice) -> dict[str, Any] | None:
    """The SDK event a fleet event is reported as, or None when an SDK would not report it."""
    name = SDK_NAMES.get(event.name)
    if name is None:
        return None
    if event.name in _PUSH_SCOPED:
        if event.delivery_id is None:
            return None
        ident = f"{fleet_id}-{device.id}-{event.delivery_id}-{event.name}"
        props: dict[str, Any] = {
            "delivery_id": event.delivery_id,
            "campaign_id": _campaign(event.campaign_id),
            "platform": device.platform.value,
        }
        if event.name == "clicked":
            props["button"] = event.button
    else:
        ident = f"{fleet_id}-{device.id}-{event.name}-{device.generation}-{int(event.at.timestamp() * 1000)}"
        props = {"platform": device.platform.value, "provider": device.provider.value}
    return {
        "id": ident,
        "user": device.user,
        "name": name,
        "at": event.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "properties": props,
        "revenue": event.revenue,
    }


def registration(device: VirtualDevice, webpush_base_url: str | None) -> dict[str, Any] | None:
    """The ``/sdk/v1/devices`` body for ``device``; None when it has no address to register."""
    body: dict[str, Any] = {
        "user": device.user,
        "platform": device.platform.value,
        "provider": device.provider.value,
        "app_version": device.app_version,
        "locale": device.locale,
        "timezone": device.timezone,
        "push_enabled": device.push_enabled,
    }
    sub = device.subscription
    if sub is not None:
        if webpush_base_url is None:
            raise ValueError("registering a Web Push device needs the Web Push service's base URL")
        body["subscription"] = {
            "endpoint": webpush_base_url.rstrip("/") + sub.endpoint_path,
            "keys": {"p256dh": _b64url(sub.keys.public_key), "auth": _b64url(sub.keys.auth_secret)},
        }
    elif device.token:
        body["token"] = device.token
    else:
        return None
    return body


class SdkReporter:
    """Reports fleet events and device registrations to Herald; runs as one asyncio task."""

    def __init__(
        self,
        herald_url: str,
        sdk_key: str,
        *,
        fleet_id: str,
        webpush_base_url: str | None = None,
        batch_size: int = 500,
        max_buffer: int = 200_000,
        flush_interval: float = 0.2,
        base_backoff: float = 0.5,
        max_backoff: float = 30.0,
        registration_concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.fleet_id = fleet_id
        self.webpush_base_url = webpush_base_url
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.registration_concurrency = registration_concurrency
        self.stats = ReporterStats()
        self._client = httpx.AsyncClient(
            base_url=herald_url.rstrip("/"), headers={"X-Herald-Key": sdk_key}, transport=transport,
            timeout=httpx.Timeout(30.0, connect=5.0),
        )
        self._events: deque[dict[str, Any]] = deque(maxlen=max_buffer)
        self._devices: deque[VirtualDevice] = deque()
        self._inflight: list[dict[str, Any]] = []
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        """Events and registrations not yet accepted by Herald."""
        return len(self._events) + len(self._inflight) + len(self._devices)

    def on_fleet_event(self, event: FleetEvent, device: VirtualDevice) -> None:
        """Fleet listener: queue what an SDK would report about ``event``."""
        if event.name in _REGISTERING:
            self.register(device)
        body = sdk_event(self.fleet_id, event, device)
        if body is not None:
            if len(self._events) == self._events.maxlen:
                self.stats.dropped += 1
            self._events.append(body)
            self.stats.queued += 1
            if len(self._events) >= self.batch_size:
                self._nudge()

    def register(self, device: VirtualDevice) -> None:
        """Queue a ``/sdk/v1/devices`` registration of ``device`` (with its address at sending time)."""
        self._devices.append(device)

    def register_all(self, devices: Iterable[VirtualDevice]) -> int:
        """Queue a registration of every installed device (e.g. after the Web Push origin changed)."""
        queued = 0
        for device in devices:
            if device.installed:
                self._devices.append(device)
                queued += 1
        return queued

    def _nudge(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is None or loop is None or wake.is_set():
            return
        if threading.get_ident() == self._thread:
            wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def start(self) -> None:
        """Start sending in the background on the running loop."""
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.get_ident()
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="sdk-reporter")

    async def stop(self, timeout: float = 10.0) -> None:
        """Send what is buffered (giving up after ``timeout`` seconds), then close the HTTP client."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            self._nudge()
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                self.stats.dropped += self.pending
                self.stats.last_error = f"gave up flushing after {timeout} s"
        await self._client.aclose()

    async def flush(self) -> None:
        """Send everything buffered now, in the caller's task (one-shot commands, tests; not with start)."""
        while self._devices or self._events or self._inflight:
            await self._send_once()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            idle = not self._devices and not self._inflight and len(self._events) < self.batch_size
            if idle and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            if self._devices or self._events or self._inflight:
                await self._send_once()
            elif self._stopping:
                return

    async def _send_once(self) -> None:
        attempt = 0
        while True:
            try:
                if self._devices:
                    await self._send_registrations()
                else:
                    await self._send_events()
                return
            except _Transient as exc:
                attempt += 1
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                delay = min(self.max_backoff, self.base_backoff * 2 ** (attempt - 1))
                delay *= 0.5 + random.random()
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.max_backoff))
                await asyncio.sleep(delay)

    async def _post(self, path: str, body: object) -> httpx.Response:
        try:
            response = await self._client.post(path, json=body)
        except httpx.TransportError as exc:
            raise _Transient(f"{path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in _TRANSIENT_STATUS:
            hint = response.headers.get("retry-after", "")
            raise _Transient(f"{path}: HTTP {response.status_code}",
                             float(hint) if hint.replace(".", "", 1).isdigit() else None)
        return response

    async def _send_events(self) -> None:
        if not self._inflight:
            take = min(self.batch_size, len(self._events))
            self._inflight = [self._events.popleft() for _ in range(take)]
        if not self._inflight:
            return
        response = await self._post(EVENTS_PATH, {"events": self._inflight})
        batch, self._inflight = self._inflight, []
        self.stats.sent += len(batch)
        if response.status_code >= 400:
            self.stats.rejected += len(batch)
            self.stats.last_error = f"{EVENTS_PATH}: HTTP {response.status_code}: {response.text[:200]}"
            return
        answer = response.json()
        self.stats.accepted += int(answer.get("accepted", 0))
        self.stats.duplicates += int(answer.get("duplicates", 0))
        rejected = answer.get("rejected") or []
        self.stats.rejected += len(rejected)
        for item in rejected[:10]:
            index = item.get("index")
            event_id = batch[index]["id"] if isinstance(index, int) and 0 <= index < len(batch) else None
            self.stats.rejections.append({"id": event_id, "error": item.get("error")})
        del self.stats.rejections[:-50]

    async def _send_registrations(self) -> None:
        take = min(self.registration_concurrency, len(self._devices))
        devices = [self._devices.popleft() for _ in range(take)]
        results = await asyncio.gather(*(self._register_one(d) for d in devices), return_exceptions=True)
        retry = [d for d, r in zip(devices, results, strict=True) if isinstance(r, _Transient)]
        self._devices.extendleft(reversed(retry))
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            if isinstance(result, Exception) and not isinstance(result, _Transient):
                self.stats.registration_failures += 1
                self.stats.last_error = f"{DEVICES_PATH}: {result}"
        transient = [r for r in results if isinstance(r, _Transient)]
        if transient:
            raise transient[0]

    async def _register_one(self, device: VirtualDevice) -> None:
        body = registration(device, self.webpush_base_url)
        if body is None:
            return
        response = await self._post(DEVICES_PATH, body)
        if response.status_code >= 400:
            self.stats.registration_failures += 1
            self.stats.last_error = f"{DEVICES_PATH}: HTTP {response.status_code}: {response.text[:200]}"
        else:
            self.stats.registered += 1
