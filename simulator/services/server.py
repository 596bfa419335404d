"""Starts and stops every protocol service of one simulator on loopback, in one asyncio loop.

In an event loop you own::

    services = SimulatorServices(sink, state_dir)          # sink: any PushSink (the fleet)
    profile = await services.start()                       # also writes state_dir/profile.json
    services.faults["apns"].update(rate_503=0.05)
    ...
    await services.stop()

From synchronous code (tests, the console's in-process mode), ``ServicesThread`` runs the same in a thread
with its own loop: ``with ServicesThread(sink, state_dir) as profile: ...``. Ports default to free ephemeral
ones; pass ``ServicePorts`` to pin them. The sink is called on the services' loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from simulator.credentials import (
    DEFAULT_BUNDLE_ID,
    DEFAULT_PROJECT_ID,
    load_or_create_credentials,
    set_token_uri,
)
from simulator.inbound import PushSink
from simulator.profile import ServiceUrls, SimulatorProfile, write_profile
from simulator.services.apns import ApnsService
from simulator.services.clock import WallClock, system_wall_clock
from simulator.services.faults import ServiceFaults
from simulator.services.fcm import FcmService
from simulator.services.h2server import H2Server, tls_context
from simulator.services.http_server import UvicornService
from simulator.services.oauth import AccessTokens, OAuthService
from simulator.services.webpush import WebPushService


@dataclass(frozen=True, slots=True)
class ServicePorts:
    """Ports to bind; 0 picks a free one."""

    oauth: int = 0
    fcm: int = 0
    webpush: int = 0
    apns: int = 0
    apns_h2c: int = 0


class SimulatorServices:
    """OAuth, FCM, APNs (TLS and h2c) and Web Push for one state directory, delivering into ``sink``."""

    def __init__(
        self, sink: PushSink, state_dir: Path, *, ports: ServicePorts | None = None, host: str = "127.0.0.1",
        faults: ServiceFaults | None = None, seed: int = 0, now: WallClock = system_wall_clock,
        project_id: str = DEFAULT_PROJECT_ID, bundle_id: str = DEFAULT_BUNDLE_ID,
    ) -> None:
        self._sink = sink
        self._state_dir = state_dir
        self._ports = ports or ServicePorts()
        self._host = host
        self._now = now
        self._project_id = project_id
        self._bundle_id = bundle_id
        self.faults = faults or ServiceFaults(seed=seed, now=now)
        self._http: list[UvicornService] = []
        self._h2: list[H2Server] = []
        self._profile: SimulatorProfile | None = None

    @property
    def profile(self) -> SimulatorProfile:
        """The profile of the running services."""
        if self._profile is None:
            raise RuntimeError("the services are not started")
        return self._profile

    @property
    def apns_connections_opened(self) -> int:
        """HTTP/2 connections the APNs endpoints (TLS and h2c) accepted since start."""
        return sum(server.connections_opened for server in self._h2)

    async def start(self) -> SimulatorProfile:
        """Create missing credentials, bind every service, write ``profile.json`` and return the profile."""
        credentials = await asyncio.to_thread(
            load_or_create_credentials, self._state_dir, project_id=self._project_id, bundle_id=self._bundle_id
        )
        tokens = AccessTokens(self.faults["oauth"], now=self._now)
        oauth = OAuthService(
            client_email=credentials.client_email, private_key_id=credentials.private_key_id,
            public_key=credentials.service_account_public_key(), faults=self.faults["oauth"], tokens=tokens,
            now=self._now,
        )
        fcm = FcmService(
            project_id=credentials.project_id, sink=self._sink, tokens=tokens, faults=self.faults["fcm"],
            now=self._now,
        )
        webpush = WebPushService(sink=self._sink, faults=self.faults["webpush"], now=self._now)
        apns = ApnsService(
            key_id=credentials.apns_key_id, team_id=credentials.apns_team_id,
            bundle_id=credentials.apns_bundle_id, public_key=credentials.apns_public_key(), sink=self._sink,
            faults=self.faults["apns"], now=self._now,
        )
        try:
            oauth_http = self._serve_http(oauth.asgi(), self._ports.oauth)
            fcm_http = self._serve_http(fcm.asgi(), self._ports.fcm)
            webpush_http = self._serve_http(webpush.asgi(), self._ports.webpush)
            for service in self._http:
                await service.start()
            tls = tls_context(str(credentials.server_cert_path), str(credentials.server_key_path))
            apns_tls, apns_h2c = H2Server(apns, ssl_context=tls), H2Server(apns)
            self._h2 = [apns_tls, apns_h2c]
            await apns_tls.start(self._host, self._ports.apns)
            await apns_h2c.start(self._host, self._ports.apns_h2c)
        except BaseException:
            await self.stop()
            raise
        urls = ServiceUrls(
            fcm_url=f"http://{self._host}:{fcm_http.port}",
            oauth_token_url=f"http://{self._host}:{oauth_http.port}/token",
            apns_url=f"https://{self._host}:{apns_tls.port}",
            apns_h2c_url=f"http://{self._host}:{apns_h2c.port}",
            webpush_base_url=f"http://{self._host}:{webpush_http.port}",
        )
        set_token_uri(credentials, urls.oauth_token_url)
        self._profile = SimulatorProfile.build(credentials, urls)
        write_profile(self._state_dir, self._profile)
        return self._profile

    async def stop(self) -> None:
        """GOAWAY and close every connection, stop every listener. Safe to call twice."""
        h2, http = self._h2, self._http
        self._h2, self._http = [], []
        await asyncio.gather(*(server.stop() for server in h2), *(service.stop() for service in http))

    async def __aenter__(self) -> SimulatorProfile:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _serve_http(self, app: object, port: int) -> UvicornService:
        service = UvicornService(app, host=self._host, port=port)  # type: ignore[arg-type]
        self._http.append(service)
        return service


class ServicesThread:
    """``SimulatorServices`` on a private event loop in a worker thread, for synchronous callers."""

    def __init__(self, sink: PushSink, state_dir: Path, **options: object) -> None:
        self._sink = sink
        self._state_dir = state_dir
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.services: SimulatorServices | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The services' loop (to schedule work next to them with ``run_coroutine_threadsafe``)."""
        if self._loop is None:
            raise RuntimeError("the services are not started")
        return self._loop

    def start(self, timeout: float = 30.0) -> SimulatorProfile:
        """Start the thread and the services; returns the profile."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(self._loop, ready), name="herald-simulator-services", daemon=True
        )
        self._thread.start()
        ready.wait(timeout)
        self.services = SimulatorServices(self._sink, self._state_dir, **self._options)  # type: ignore[arg-type]
        future = asyncio.run_coroutine_threadsafe(self.services.start(), self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the services, the loop and the thread."""
        loop, thread, services = self._loop, self._thread, self.services
        if loop is None or thread is None:
            return
        if services is not None:
            asyncio.run_coroutine_threadsafe(services.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
        self._loop = self._thread = None
        self.services = None

    def __enter__(self) -> SimulatorProfile:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())

