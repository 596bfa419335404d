"""The simulator's control API as coroutines, for the engine thread (no Qt here).

``ControlClient(control_url)`` owns one ``httpx.AsyncClient``, created on first use in the loop that awaits
it — the EngineHost's loop — and closed by ``aclose()`` (submit it before shutting the host down). The GUI
never calls it directly: ``SimulatorPage`` hands its coroutines to ``EngineHost.submit``.

``snapshot()`` is what the page polls: the fleet's stats, one filtered page of devices with each device's
newest tray notification, and the selected device's detail and events, fetched concurrently. Newest
notifications are read from ``/control/devices/{id}`` only for devices whose tray changed since the last
poll, so a page of tiles costs a handful of requests, not one per tile per second.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Refetch a tile's newest notification at least this often (seconds), even when its counts look unchanged.
LATEST_MAX_AGE = 5.0


class ControlError(Exception):
    """The control API refused a request or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class DeviceFilter:
    """Which devices the grid shows: platform (``android``/``ios``/``web`` or None), online state, page."""

    platform: str | None = None
    online: bool | None = None
    offset: int = 0
    limit: int = 48


@dataclass
class Snapshot:
    """One poll's worth of the fleet."""

    stats: dict[str, Any]
    total: int
    devices: list[dict[str, Any]]
    #: Device id → its newest tray entry (``notification`` dict and ids), or absent when the tray is empty.
    latest: dict[int, dict[str, Any]] = field(default_factory=dict)
    detail: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


class ControlClient:
    """Async calls to one simulator's control API."""

    def __init__(self, control_url: str, timeout: float = 10.0) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._latest: dict[int, tuple[tuple[Any, ...], float, dict[str, Any] | None]] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.control_url, timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (on the loop that used it)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ControlError(f"the simulator at {self.control_url} did not answer ({exc.__class__.__name__}); "
                               "is it running?") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise ControlError(f"{method} {path}: {message}")
        return response.json()

    # -- the endpoints --------------------------------------------------------------------------------

    async def devices(self, wanted: DeviceFilter) -> dict[str, Any]:
        """``GET /control/devices``: ``{"total", "offset", "limit", "devices"}``."""
        params: dict[str, Any] = {"offset": wanted.offset, "limit": wanted.limit}
        if wanted.platform:
            params["platform"] = wanted.platform
        if wanted.online is not None:
            params["online"] = "true" if wanted.online else "false"
        result: dict[str, Any] = await self._call("GET", "/control/devices", params=params)
        return result

    async def device(self, device_id: int) -> dict[str, Any]:
        """One device with its tray and pending queue."""
        result: dict[str, Any] = await self._call("GET", f"/control/devices/{device_id}")
        return result

    async def events(self, device_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """A device's newest events, oldest first."""
        result = await self._call("GET", f"/control/devices/{device_id}/events", params={"limit": limit})
        return list(result["events"])

    async def act(self, device_id: int, action: str, **body: Any) -> dict[str, Any]:
        """``POST /control/devices/{id}/{action}`` (click, dismiss, offline, online, uninstall, …)."""
        payload = {k: v for k, v in body.items() if v is not None}
        result: dict[str, Any] = await self._call("POST", f"/control/devices/{device_id}/{action}", json=payload)
        self._latest.pop(device_id, None)
        return result

    async def stats(self, seconds: int = 60) -> dict[str, Any]:
        """Per-platform counts, totals and per-second counters."""
        result: dict[str, Any] = await self._call("GET", "/control/stats", params={"seconds": seconds})
        return result

    async def faults(self) -> dict[str, dict[str, Any]]:
        """Every service's fault settings."""
        result: dict[str, dict[str, Any]] = await self._call("GET", "/control/faults")
        return result

    async def set_faults(self, service: str, **changes: Any) -> dict[str, Any]:
        """``PUT /control/faults/{service}`` with the fields to change; the new settings."""
        result: dict[str, Any] = await self._call("PUT", f"/control/faults/{service}", json=changes)
        return result

    # -- what the page polls ---------------------------------------------------------------------------

    async def snapshot(self, wanted: DeviceFilter, selected: int | None = None, seconds: int = 60) -> Snapshot:
        """Stats, a page of devices with their newest notifications, and the selected device."""
        stats_job = asyncio.ensure_future(self.stats(seconds))
        page_job = asyncio.ensure_future(self.devices(wanted))
        detail_job = asyncio.ensure_future(self._selected(selected))
        try:
            stats, page, (detail, events) = await asyncio.gather(stats_job, page_job, detail_job)
        except BaseException:
            for job in (stats_job, page_job, detail_job):
                job.cancel()
            raise
        devices: list[dict[str, Any]] = page["devices"]
        latest = await self._newest(devices, detail)
        return Snapshot(stats, int(page["total"]), devices, latest, detail, events)

    async def _selected(self, device_id: int | None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if device_id is None:
            return None, []
        detail, events = await asyncio.gather(self.device(device_id), self.events(device_id, 60))
        return detail, events

    async def _newest(self, devices: list[dict[str, Any]], detail: dict[str, Any] | None) -> dict[int, Any]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        out: dict[int, dict[str, Any]] = {}
        stale: list[int] = []
        for d in devices:
            device_id = int(d["id"])
            if "latest" in d:  # a control API that lists the newest notification itself
                if d["latest"]:
                    out[device_id] = d["latest"]
                continue
            if not d.get("tray_count"):
                self._latest.pop(device_id, None)
                continue
            key = (d.get("tray_count"), d.get("pending_count"), d.get("online"), d.get("generation"))
            cached = self._latest.get(device_id)
            if cached is not None and cached[0] == key and now - cached[1] < LATEST_MAX_AGE:
                if cached[2] is not None:
                    out[device_id] = cached[2]
                continue
            stale.append(device_id)
        if detail is not None and int(detail["id"]) in stale:
            stale.remove(int(detail["id"]))
            self._remember(detail, now)
            if detail["tray"]:
                out[int(detail["id"])] = detail["tray"][-1]
        found = await asyncio.gather(*(self.device(i) for i in stale), return_exceptions=True)
        for device_id, result in zip(stale, found, strict=True):
            if isinstance(result, BaseException):
                continue
            self._remember(result, now)
            if result["tray"]:
                out[device_id] = result["tray"][-1]
        if len(self._latest) > 5000:
            self._latest.clear()
        return out

    def _remember(self, detail: dict[str, Any], now: float) -> None:
        key = (len(detail["tray"]), len(detail["pending"]), detail.get("online"), detail.get("generation"))
        self._latest[int(detail["id"])] = (key, now, detail["tray"][-1] if detail["tray"] else None)
