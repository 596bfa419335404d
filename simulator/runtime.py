"""The whole simulator as one running thing: fleet, protocol services, SDK reporter and control API.

``SimulatorRuntime`` wires the parts in the order they need each other and tears them down in reverse:

1. credentials in the state directory (created once, kept forever after);
2. the fleet, loaded from the state directory, topped up to the requested number of devices;
3. the protocol services on loopback, delivering into the fleet — on the same ports as last time (kept in
   ``ports.json``), because Web Push endpoints that Herald stored contain the port;
4. the SDK reporter when a Herald URL is given (devices register and report lifecycle events);
5. the control API (HTTP + Server-Sent Events) for the console and for people.

It runs in the caller's event loop (``python main.py simulator``); ``RuntimeThread`` runs it on a private
loop in a worker thread for the console's in-process mode and for tests.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from core.clock import Clock, SystemClock
from core.domain import Platform
from simulator.behaviour import BehaviourModel
from simulator.control import create_control_app
from simulator.credentials import b64url_decode, load_or_create_credentials
from simulator.fleet import Fleet
from simulator.profile import SimulatorProfile
from simulator.reporter import SdkReporter
from simulator.services.http_server import UvicornService
from simulator.services.server import ServicePorts, SimulatorServices

PORTS_FILE = "ports.json"


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run the simulator."""

    #: Make sure the fleet has at least this many devices (new ones are created deterministically).
    devices: int = 0
    seed: int = 0
    #: Platform shares for new devices; None means the fleet's default mix.
    mix: Mapping[Platform, float] | None = None
    #: Herald's SDK ingest API, e.g. ``http://127.0.0.1:8077``; None runs the fleet without reporting.
    herald_url: str | None = None
    sdk_key: str | None = None
    #: Fixed ports; zeros are chosen on first start and then kept in ``ports.json``.
    ports: ServicePorts = field(default_factory=ServicePorts)
    control_port: int = 0
    #: Multiplies the users' reaction delays (0.01 = a hundred times faster), for demos and tests.
    time_scale: float = 1.0
    #: Faults switched on at start, per service: ``{"apns": {"rate_503": 0.05}}`` (see services/faults.py).
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RuntimeInfo:
    """Where a running simulator can be reached."""

    profile: SimulatorProfile
    control_url: str
    devices: int


def _saved_ports(state_dir: Path) -> dict[str, int]:
    path = state_dir / PORTS_FILE
    if not path.exists():
        return {}
    return {str(k): int(v) for k, v in json.loads(path.read_text()).items()}


def _merge_ports(wanted: ServicePorts, control: int, saved: Mapping[str, int]) -> tuple[ServicePorts, int]:
    values = {name: value or saved.get(name, 0) for name, value in asdict(wanted).items()}
    return ServicePorts(**values), control or saved.get("control", 0)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


class SimulatorRuntime:
    """Starts and stops every part of one simulator in the running event loop."""

    def __init__(self, state_dir: Path, options: RuntimeOptions | None = None, clock: Clock | None = None) -> None:
        self.state_dir = state_dir
        self.options = options or RuntimeOptions()
        self.clock = clock or SystemClock()
        self.fleet: Fleet | None = None
        self.services: SimulatorServices | None = None
        self.reporter: SdkReporter | None = None
        self._control: UvicornService | None = None

    async def start(self) -> RuntimeInfo:
        """Bring everything up; on any failure, stop what was started and re-raise."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> RuntimeInfo:
        opts = self.options
        credentials = await asyncio.to_thread(load_or_create_credentials, self.state_dir)
        behaviour = BehaviourModel(opts.seed, time_scale=opts.time_scale)
        self.fleet = fleet = await asyncio.to_thread(
            Fleet.open, self.state_dir, self.clock, behaviour,
            application_server_key=b64url_decode(credentials.vapid_public_key),
        )
        missing = opts.devices - len(fleet)
        if missing > 0:
            await asyncio.to_thread(fleet.create, missing, mix=opts.mix, seed=opts.seed)
            await asyncio.to_thread(fleet.save)
        # A large fleet is long-lived: keep the collector from walking every device on each cycle.
        gc.collect()
        gc.freeze()
        ports, control_port = _merge_ports(opts.ports, opts.control_port, _saved_ports(self.state_dir))
        self.services = SimulatorServices(fleet, self.state_dir, ports=ports, seed=opts.seed)
        profile = await self.services.start()
        for service, changes in opts.faults.items():
            self.services.faults.update(service, **changes)
        if opts.herald_url:
            if not opts.sdk_key:
                raise ValueError("an SDK key is needed to report to Herald (--sdk-key or HERALD_SDK_KEY)")
            self.reporter = SdkReporter(
                opts.herald_url, opts.sdk_key, fleet_id=fleet.fleet_id, webpush_base_url=profile.webpush_base_url,
            )
            fleet.add_listener(self.reporter.on_fleet_event)
            await self.reporter.start()
            self.reporter.register_all(fleet.devices())
        self._control = UvicornService(create_control_app(fleet, self.services.faults), port=control_port)
        await self._control.start()
        self._save_ports(profile)
        await fleet.start()
        return RuntimeInfo(profile, f"http://{self._control.host}:{self._control.port}", len(fleet))

    def _save_ports(self, profile: SimulatorProfile) -> None:
        assert self._control is not None
        ports = {
            "oauth": _port_of(profile.oauth_token_url), "fcm": _port_of(profile.fcm_url),
            "webpush": _port_of(profile.webpush_base_url), "apns": _port_of(profile.apns_url),
            "apns_h2c": _port_of(profile.apns_h2c_url), "control": self._control.port,
        }
        (self.state_dir / PORTS_FILE).write_text(json.dumps(ports, indent=2) + "\n")

    async def stop(self) -> None:
        """Stop in reverse order: reactions, control API, reporter (flushing), services; save the fleet."""
        fleet, control, reporter, services = self.fleet, self._control, self.reporter, self.services
        self.fleet = self._control = self.reporter = self.services = None
        if fleet is not None:
            await fleet.stop()
        if control is not None:
            await control.stop()
        if reporter is not None:
            await reporter.stop()
        if services is not None:
            await services.stop()
        if fleet is not None:
            fleet.close()
        gc.unfreeze()


class RuntimeThread:
    """A ``SimulatorRuntime`` on a private event loop in a worker thread, for synchronous callers."""

    def __init__(self, state_dir: Path, options: RuntimeOptions | None = None, clock: Clock | None = None) -> None:
        self.runtime = SimulatorRuntime(state_dir, options, clock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="herald-simulator", daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The simulator's loop, for ``asyncio.run_coroutine_threadsafe``."""
        return self._loop

    def start(self, timeout: float = 120.0) -> RuntimeInfo:
        """Start the thread and the simulator; returns where it can be reached."""
        self._thread.start()
        try:
            return asyncio.run_coroutine_threadsafe(self.runtime.start(), self._loop).result(timeout)
        except BaseException:
            self._halt(timeout)
            raise

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the simulator, then the loop and the thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.runtime.stop(), self._loop).result(timeout)
        self._halt(timeout)

    def _halt(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> RuntimeInfo:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
