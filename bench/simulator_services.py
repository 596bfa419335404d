"""Accepted requests per second of the simulator's protocol services, and what one server core sustains.

The services run in a child process (so client and server each get a core, as far as a shared box allows):

* **real** — ``SimulatorServices`` delivering into a real ``Fleet`` (``devices`` devices, a third per provider,
  with the behaviour model scheduling reactions): every request is authenticated, checked, decrypted (Web
  Push) and delivered to a device's tray;
* **bare** (``bare=True``) — the same transports (uvicorn + httptools + uvloop for Web Push and FCM, the same
  hyper-h2 server for APNs) with handlers that read the request and answer success without checking,
  decrypting or delivering: the protocol ceiling a service could reach on this machine.

Each service is driven for ``duration_s`` by two kinds of client (``bench.simulator_clients``):

* ``<service>`` — the **real client libraries** in this process: ``pywebpush.webpush_async`` (50 in flight on
  one aiohttp session; VAPID header made once per origin, as Herald does), ``httpx`` HTTP/2 over TLS (50
  streams, one provider token), ``firebase_admin.messaging.send_each_async`` (batches of 500);
* ``<service>_lean`` — **lean clients** in ``lean_processes`` child processes that send the same valid
  requests without the library's per-message work (Web Push bodies encrypted once per subscription and
  re-sent, FCM JSON with one access token over aiohttp, APNs over a bare hyper-h2 connection), so the
  service rather than the client is the limit.

Results are accepted answers per second (201 / 200; anything else is counted in ``<name>_errors``). On Linux
the server process's CPU time is read around each run: ``<name>_per_server_cpu_s`` is accepted requests per
second of server CPU — what one server core sustains once clients keep up, independent of how much CPU the
clients leave it on a shared machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import multiprocessing
import multiprocessing.synchronize
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.simulator_clients import (
    LEAN,
    Outcome,
    Targets,
    firebase_app,
    lean_worker,
    library_apns,
    library_fcm,
    library_webpush,
)
from simulator.credentials import b64url, b64url_decode
from simulator.inbound import Acceptance, AcceptanceStatus, InboundPush, WebPushKeys
from simulator.profile import SimulatorProfile

SERVICES = ("webpush", "apns", "fcm")


class _NoSink:
    """The sink of the bare run's real services (only OAuth is used there)."""

    def accept(self, push: InboundPush) -> Acceptance:
        return Acceptance(AcceptanceStatus.ACCEPTED)

    def webpush_keys(self, subscription_id: str) -> WebPushKeys | None:
        return None


def _fleet_targets(fleet: Any, per_provider: int) -> Targets:
    from core.domain import Provider

    targets: Targets = {"webpush": [], "apns": [], "fcm": []}
    for device in fleet.devices():
        if device.provider is Provider.WEBPUSH and device.subscription is not None:
            keys = device.subscription.keys
            targets["webpush"].append([device.subscription.id, b64url(keys.public_key), b64url(keys.auth_secret)])
        elif device.provider is Provider.APNS:
            targets["apns"].append(device.token)
        elif device.provider is Provider.FCM:
            targets["fcm"].append(device.token)
    return {name: values[:per_provider] for name, values in targets.items()}


def _bare_webpush_app() -> Any:
    ids = itertools.count(1)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        headers = [(b"content-length", b"0"), (b"location", f"/message/{next(ids):x}".encode()), (b"ttl", b"3600")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def _bare_fcm_app(project_id: str) -> Any:
    ids = itertools.count(1)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        body = json.dumps({"name": f"projects/{project_id}/messages/0:{next(ids):016x}"}).encode()
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class _BareApns:
    """Duck-types ``ApnsService`` for ``H2Server``: every request answers 200 with the usual ids."""

    def __init__(self) -> None:
        from simulator.services.faults import ServiceFaults

        self.faults = ServiceFaults()["apns"]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        from simulator.services.apns import ApnsAnswer

        return ApnsAnswer(200, [("apns-id", str(uuid.uuid4())), ("apns-unique-id", str(uuid.uuid4()))], b"")

    def fault_answer(self, decision: Any, request_headers: dict[str, str]) -> Any:
        return self.handle("POST", "", request_headers, b"")


async def _start_bare(state_dir: Path, stack: list[Any]) -> SimulatorProfile:
    """Real OAuth (firebase-admin needs it) and bare Web Push, FCM and APNs; the profile points at them."""
    from simulator.credentials import load_or_create_credentials
    from simulator.services import SimulatorServices
    from simulator.services.h2server import H2Server, tls_context
    from simulator.services.http_server import UvicornService

    services = SimulatorServices(_NoSink(), state_dir)
    profile = await services.start()
    stack.append(services.stop)
    credentials = load_or_create_credentials(state_dir)
    webpush, fcm = UvicornService(_bare_webpush_app()), UvicornService(_bare_fcm_app(profile.project_id))
    apns = H2Server(_BareApns(), ssl_context=tls_context(str(credentials.server_cert_path),  # type: ignore[arg-type]
                                                          str(credentials.server_key_path)))
    for server in (webpush, fcm):
        await server.start()
        stack.append(server.stop)
    await apns.start()
    stack.append(apns.stop)
    return dataclasses.replace(
        profile, webpush_base_url=f"http://127.0.0.1:{webpush.port}", fcm_url=f"http://127.0.0.1:{fcm.port}",
        apns_url=f"https://127.0.0.1:{apns.port}",
    )


def _serve(state_dir: str, bare: bool, devices: int, per_provider: int, out: Any,
           stop: multiprocessing.synchronize.Event) -> None:
    """Child-process entry: start the real or bare services, put ``(profile json, targets)``, serve until ``stop``."""
    import gc

    from core.clock import SystemClock
    from simulator.behaviour import BehaviourModel
    from simulator.credentials import load_or_create_credentials
    from simulator.fleet import Fleet
    from simulator.services import SimulatorServices

    credentials = load_or_create_credentials(Path(state_dir))
    fleet = Fleet(SystemClock(), BehaviourModel(1), application_server_key=b64url_decode(credentials.vapid_public_key))
    fleet.create(devices, {p: 1.0 for p in _platforms()}, seed=1)
    targets = _fleet_targets(fleet, per_provider)
    gc.collect()
    gc.freeze()

    async def main() -> None:
        stack: list[Callable[[], Awaitable[None]]] = []
        if bare:
            profile = await _start_bare(Path(state_dir), stack)
        else:
            services = SimulatorServices(fleet, Path(state_dir))
            profile = await services.start()
            stack.append(services.stop)
            await fleet.start()
            stack.append(fleet.stop)
        out.put((profile.to_json(), targets))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for close in reversed(stack):
            await close()

    profile_path = os.environ.get("HERALD_BENCH_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile_path}.{'bare' if bare else 'real'}")


def _platforms() -> list[Any]:
    from core.domain import Platform

    return [Platform.ANDROID, Platform.IOS, Platform.WEB]


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, from /proc (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _run_lean(service: str, profile_json: str, targets: Targets, processes: int, in_flight: int,
              duration_s: float, server_pid: int | None) -> tuple[Outcome, float | None]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    out = context.Queue()
    workers = [
        context.Process(target=lean_worker, args=(service, profile_json, targets, in_flight, duration_s, barrier, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    cpu_before = _cpu_seconds(server_pid)
    outcomes = [out.get(timeout=duration_s + 120) for _ in workers]
    cpu_after = _cpu_seconds(server_pid)
    for worker in workers:
        worker.join()
    accepted = sum(o[0] for o in outcomes)
    errors = sum(o[1] for o in outcomes)
    seconds = max(o[2] for o in outcomes)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return (accepted, errors, seconds), cpu


def stop_server(server: Any, stop: Any, queue: Any) -> None:
    """Ask a spawned services process to stop, make sure it does, and release its queue."""
    stop.set()
    server.join(30)
    if server.is_alive():
        server.terminate()
        server.join()
    queue.close()
    queue.join_thread()


def measure_services(
    duration_s: float = 3.0, *, bare: bool = False, devices: int = 3000, targets_per_provider: int = 1000,
    in_flight: int = 50, fcm_batch: int = 500, lean_processes: int = 2, lean_in_flight: int = 100,
) -> dict[str, float]:
    """Start the real (or bare) services in a child process and drive each one; see the module docstring."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as state_dir:
        queue = context.Queue()
        stop = context.Event()
        server = context.Process(target=_serve, args=(state_dir, bare, devices, targets_per_provider, queue, stop),
                                 name="herald-bench-services")
        server.start()
        try:
            profile_json, targets = queue.get(timeout=300)
            profile = SimulatorProfile.from_json(profile_json)
            results: dict[str, float] = {}

            def record(name: str, outcome: Outcome, cpu: float | None) -> None:
                accepted, errors, seconds = outcome
                results[name] = round(accepted / seconds, 1)
                results[f"{name}_errors"] = errors
                if cpu:
                    results[f"{name}_per_server_cpu_s"] = round(accepted / cpu, 1)

            app = firebase_app(profile)

            async def run_libraries() -> None:
                runs: dict[str, Callable[[], Awaitable[Outcome]]] = {
                    "webpush": lambda: library_webpush(profile, targets, in_flight, duration_s),
                    "apns": lambda: library_apns(profile, targets, in_flight, duration_s),
                    "fcm": lambda: library_fcm(app, targets, fcm_batch, duration_s),
                }
                for name, run in runs.items():
                    cpu_before = _cpu_seconds(server.pid)
                    outcome = await run()
                    cpu_after = _cpu_seconds(server.pid)
                    record(name, outcome, None if cpu_before is None or cpu_after is None else cpu_after - cpu_before)
                from firebase_admin import messaging

                await messaging._get_messaging_service(app)._async_client.aclose()

            try:
                asyncio.run(run_libraries())
            finally:
                import firebase_admin

                firebase_admin.delete_app(app)
            for name in LEAN:
                outcome, cpu = _run_lean(name, profile_json, targets, lean_processes, lean_in_flight, duration_s,
                                         server.pid)
                record(f"{name}_lean", outcome, cpu)
            return results
        finally:
            stop_server(server, stop, queue)


if __name__ == "__main__":
    import sys

    started = time.perf_counter()
    print(json.dumps(measure_services(bare="--bare" in sys.argv), indent=2))
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
