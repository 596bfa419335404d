"""Accepted requests per second of the simulator's protocol services, driven by the real client libraries.

The services run in a child process (so client and server each get a core) with a sink that accepts every
push; this process drives one service at a time for ``duration_s`` seconds:

* **webpush** — ``pywebpush.webpush_async`` with ``webpush_in_flight`` requests in flight on one shared
  aiohttp session, over ``subscriptions`` subscriptions (encryption and VAPID signing are client work);
* **apns** — ``httpx.AsyncClient(http2=True)`` over TLS with the local CA, ``apns_in_flight`` concurrent
  streams spread over ``apns_connections`` clients, one provider token reused (as Apple asks);
* **fcm** — ``firebase_admin.messaging.send_each_async`` batches of ``fcm_batch`` messages on one loop.

``measure_services()`` returns ``{"webpush": req/s, "apns": req/s, "fcm": req/s, ...}``; counts are of
answers the service accepted (201 / 200), anything else is counted under ``<service>_errors``. On Linux it
also reads the server process's CPU time around each run and reports ``<service>_per_server_cpu_s``:
accepted requests per second of server CPU, i.e. what one server core sustains when clients keep up (on a
2-core box the client libraries, not the services, are the limit).
"""

from __future__ import annotations

import asyncio
import copy
import json
import multiprocessing
import multiprocessing.synchronize
import os
import secrets
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.credentials import b64url, b64url_decode
from simulator.inbound import Acceptance, AcceptanceStatus, InboundPush, WebPushKeys
from simulator.profile import SimulatorProfile


@dataclass(frozen=True)
class _SubscriptionSecrets:
    id: str
    private_key: bytes
    public_key: bytes
    auth: bytes


class _AcceptAllSink:
    """Accepts every push; knows the benchmark's Web Push subscriptions."""

    def __init__(self, subscriptions: dict[str, WebPushKeys]) -> None:
        self._subscriptions = subscriptions
        self.accepted = 0

    def accept(self, push: InboundPush) -> Acceptance:
        self.accepted += 1
        return Acceptance(AcceptanceStatus.ACCEPTED)

    def webpush_keys(self, subscription_id: str) -> WebPushKeys | None:
        return self._subscriptions.get(subscription_id)


def _new_subscriptions(count: int) -> list[_SubscriptionSecrets]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    out = []
    for _ in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        out.append(_SubscriptionSecrets(
            secrets.token_urlsafe(12), key.private_numbers().private_value.to_bytes(32, "big"), public,
            secrets.token_bytes(16),
        ))
    return out


def _serve(
    state_dir: str, subscriptions: list[_SubscriptionSecrets], profile_queue: Any,
    stop: multiprocessing.synchronize.Event,
) -> None:
    from simulator.credentials import load_or_create_credentials
    from simulator.services import SimulatorServices

    credentials = load_or_create_credentials(Path(state_dir))
    server_key = b64url_decode(credentials.vapid_public_key)
    sink = _AcceptAllSink({
        s.id: WebPushKeys(s.private_key, s.public_key, s.auth, server_key) for s in subscriptions
    })

    async def main() -> None:
        services = SimulatorServices(sink, Path(state_dir))
        profile = await services.start()
        profile_queue.put(profile.to_json())
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await services.stop()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, from /proc (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _drive(
    send_one: Callable[[int], Awaitable[bool]], in_flight: int, duration_s: float
) -> tuple[float, int]:
    """Keep ``in_flight`` calls going for ``duration_s``; return (accepted/s, errors)."""
    accepted = errors = 0
    deadline = time.perf_counter() + duration_s
    counter = 0

    async def worker() -> None:
        nonlocal accepted, errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            try:
                ok = await send_one(counter)
            except Exception:
                ok = False
            if ok:
                accepted += 1
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return accepted / (time.perf_counter() - started), errors


async def _bench_webpush(
    profile: SimulatorProfile, subscriptions: list[_SubscriptionSecrets], in_flight: int, duration_s: float
) -> tuple[float, int]:
    import aiohttp
    from py_vapid import Vapid
    from pywebpush import webpush_async

    vapid = Vapid.from_file(profile.vapid_private_key_path)
    infos = [
        {"endpoint": profile.webpush_endpoint(s.id), "keys": {"p256dh": b64url(s.public_key), "auth": b64url(s.auth)}}
        for s in subscriptions
    ]
    body = json.dumps({"title": "Flash sale", "body": "40% off today only", "tag": "sale", "data": {"url": "/sale"}})
    claims = {"sub": "mailto:bench@herald.test"}
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send_one(i: int) -> bool:
            response = await webpush_async(
                infos[i % len(infos)], body, vapid_private_key=vapid, vapid_claims=copy.copy(claims), ttl=3600,
                aiohttp_session=session,
            )
            return getattr(response, "status", 0) == 201

        return await _drive(send_one, in_flight, duration_s)


async def _bench_apns(
    profile: SimulatorProfile, connections: int, in_flight: int, duration_s: float
) -> tuple[float, int]:
    import httpx
    import jwt

    token = jwt.encode(
        {"iss": profile.apns_team_id, "iat": int(time.time())}, Path(profile.apns_key_path).read_bytes(),
        algorithm="ES256", headers={"kid": profile.apns_key_id},
    )
    context = ssl.create_default_context(cafile=profile.ca_cert_path)
    headers = {"authorization": f"bearer {token}", "apns-topic": profile.apns_bundle_id, "apns-push-type": "alert"}
    body = json.dumps({"aps": {"alert": {"title": "Flash sale", "body": "40% off today only"}}}).encode()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(http2=True, verify=context, limits=limits) for _ in range(connections)]
    try:
        async def send_one(i: int) -> bool:
            client = clients[i % len(clients)]
            response = await client.post(f"{profile.apns_url}/3/device/{i % 1000:064x}", headers=headers, content=body)
            return response.status_code == 200

        return await _drive(send_one, in_flight, duration_s)
    finally:
        for client in clients:
            await client.aclose()


async def _bench_fcm(app: Any, batch: int, in_flight: int, duration_s: float) -> tuple[float, int]:
    from firebase_admin import messaging

    messages = [
        messaging.Message(
            fid=f"device-{i}", data={"herald_delivery_id": str(i)},
            android=messaging.AndroidConfig(notification=messaging.AndroidNotification(title="Hi", body="Sale")),
        )
        for i in range(batch)
    ]
    accepted = errors = 0
    deadline = time.perf_counter() + duration_s
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal accepted, errors
        while time.perf_counter() < deadline:
            result = await messaging.send_each_async(messages, app=app)
            accepted += result.success_count
            errors += result.failure_count

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return accepted / (time.perf_counter() - started), errors


def _firebase_app(profile: SimulatorProfile) -> Any:
    import firebase_admin
    from firebase_admin import credentials, messaging

    app = firebase_admin.initialize_app(
        credentials.Certificate(profile.service_account_path), {"projectId": profile.project_id},
        name=f"bench-{secrets.token_hex(4)}",
    )
    messaging._get_messaging_service(app)._fcm_url = profile.fcm_send_url.format(profile.project_id)
    return app


def measure_services(
    duration_s: float = 3.0, *, webpush_in_flight: int = 50, subscriptions: int = 200, apns_connections: int = 1,
    apns_in_flight: int = 50, fcm_batch: int = 500, fcm_in_flight: int = 1,
) -> dict[str, float]:
    """Run the services in a child process and measure each one; returns accepted requests/s per service."""
    subs = _new_subscriptions(subscriptions)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as state_dir:
        queue = context.Queue()
        stop = context.Event()
        server = context.Process(target=_serve, args=(state_dir, subs, queue, stop), name="herald-bench-services")
        server.start()
        try:
            profile = SimulatorProfile.from_json(queue.get(timeout=60))
            app = _firebase_app(profile)

            async def run_all() -> dict[str, float]:
                runs: dict[str, Callable[[], Awaitable[tuple[float, int]]]] = {
                    "webpush": lambda: _bench_webpush(profile, subs, webpush_in_flight, duration_s),
                    "apns": lambda: _bench_apns(profile, apns_connections, apns_in_flight, duration_s),
                    "fcm": lambda: _bench_fcm(app, fcm_batch, fcm_in_flight, duration_s),
                }
                results: dict[str, float] = {}
                for name, run in runs.items():
                    cpu_before = _cpu_seconds(server.pid)
                    started = time.perf_counter()
                    rate, errors = await run()
                    elapsed = time.perf_counter() - started
                    cpu_after = _cpu_seconds(server.pid)
                    results[name] = round(rate, 1)
                    results[f"{name}_errors"] = errors
                    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
                        results[f"{name}_per_server_cpu_s"] = round(rate * elapsed / (cpu_after - cpu_before), 1)
                from firebase_admin import messaging

                await messaging._get_messaging_service(app)._async_client.aclose()
                return results

            try:
                return asyncio.run(run_all())
            finally:
                import firebase_admin

                firebase_admin.delete_app(app)
        finally:
            stop.set()
            server.join(30)
            if server.is_alive():
                server.terminate()
                server.join()
            queue.close()
            queue.join_thread()


if __name__ == "__main__":
    print(json.dumps(measure_services(), indent=2))
