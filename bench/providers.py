"""Messages per second and sender CPU µs per message of Herald's providers against baselines, same run.

The simulator's protocol services run in a child process (``bench.simulator_services._serve``, a sink that
accepts every push), so sender and server each get a core. For each provider this process measures:

* **webpush** — ``WebPushProvider.send_batch`` vs ``pywebpush.webpush()`` in a loop (sync, requests);
* **fcm** — ``FcmProvider.send_batch`` (firebase-admin async) vs ``messaging.send_each`` (sync, a thread per
  message);
* **apns** — ``ApnsProvider.send_batch`` (concurrent streams on one HTTP/2 connection) vs one request at a
  time with httpx on the same kind of connection;

and the Web Push process-pool crossover: batch sizes encrypted in-process vs in the pool.

CPU is ``time.process_time()`` of this process plus, for the pool, the CPU of its worker processes (from
/proc on Linux). The async functions are meant for ``bench.fanout``; ``python -m bench.providers [--json]``
prints a table or the JSON shape of CONVENTIONS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from bench.simulator_services import _cpu_seconds, _new_subscriptions, _serve, _SubscriptionSecrets
from core.providers.apns import ApnsProvider
from core.providers.base import ApnsRequest, FcmRequest, WebPushRequest
from core.providers.factory import ProviderSettings, settings_from_simulator_profile
from core.providers.fcm import FcmProvider
from core.providers.webpush import WebPushProvider
from simulator.credentials import b64url
from simulator.profile import SimulatorProfile

_BODY = {"title": "Flash sale", "body": "40% off today only", "tag": "sale", "data": {"url": "/sale"}}
_APNS_BODY = json.dumps({"aps": {"alert": {"title": "Flash sale", "body": "40% off today only"}}}).encode()


@dataclass(frozen=True)
class Measure:
    """One measured run: messages accepted per second and sender CPU µs per message."""

    name: str
    messages: int
    ok: int
    seconds: float
    cpu_us_per_msg: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _pool_cpu(provider: WebPushProvider) -> float:
    pool = provider._pool
    if pool is None:
        return 0.0
    return sum(_cpu_seconds(pid) or 0.0 for pid in list(pool._processes or {}))


async def _timed(name: str, n: int, run: Callable[[], Awaitable[int]],
                 extra_cpu: Callable[[], float] = lambda: 0.0) -> Measure:
    cpu0, extra0, t0 = time.process_time(), extra_cpu(), time.perf_counter()
    ok = await run()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + extra_cpu() - extra0
    return Measure(name, n, ok, seconds, cpu / n * 1e6)


def _subscription(profile: SimulatorProfile, s: _SubscriptionSecrets) -> dict[str, Any]:
    keys = {"p256dh": b64url(s.public_key), "auth": b64url(s.auth)}
    return {"endpoint": profile.webpush_endpoint(s.id), "keys": keys}


async def bench_webpush(profile: SimulatorProfile, settings: ProviderSettings, subs: list[_SubscriptionSecrets],
                        messages: int, baseline_messages: int, pool_threshold: int | None = 512) -> list[Measure]:
    """Herald's Web Push provider vs ``pywebpush.webpush()`` in a loop."""
    from pywebpush import webpush

    assert settings.webpush is not None
    infos = [_subscription(profile, s) for s in subs]
    payload = json.dumps(_BODY).encode()
    requests = [WebPushRequest(infos[i % len(infos)], payload, 3600, "normal", "sale") for i in range(messages)]
    provider = WebPushProvider(replace(settings.webpush, process_pool_threshold=pool_threshold))
    try:
        await provider.send_batch(requests[:50])  # warm: connections, VAPID, pool start
        herald = await _timed("webpush", messages,
                              lambda: _count_ok(provider.send_batch(requests)), lambda: _pool_cpu(provider))
    finally:
        await provider.aclose()

    def baseline_loop() -> int:
        ok = 0
        for i in range(baseline_messages):
            response = webpush(infos[i % len(infos)], payload.decode(),
                               vapid_private_key=profile.vapid_private_key_path,
                               vapid_claims={"sub": "mailto:bench@herald.test"}, ttl=3600)
            ok += getattr(response, "status_code", 0) == 201
        return ok

    async def baseline() -> int:
        return baseline_loop()

    return [herald, await _timed("pywebpush.webpush() loop", baseline_messages, baseline)]


async def bench_fcm(
    settings: ProviderSettings, tokens: list[str], messages: int, baseline_messages: int
) -> list[Measure]:
    """Herald's FCM provider vs firebase-admin ``messaging.send_each`` (sync)."""
    import firebase_admin
    from firebase_admin import messaging

    assert settings.fcm is not None
    message = {"data": {"herald_delivery_id": "1"}, "notification": {"title": "Hi", "body": "Sale"}}
    requests = [FcmRequest(tokens[i % len(tokens)], message) for i in range(messages)]
    provider = FcmProvider(settings.fcm)
    try:
        await provider.send_batch(requests[:10])
        herald = await _timed("fcm", messages, lambda: _count_ok(provider.send_batch(requests)))
        app = provider._ensure_app()  # same credentials and URL, used through the sync API
        batch = [messaging.Message(fid=tokens[i % len(tokens)], data={"herald_delivery_id": "1"},
                                   notification=messaging.Notification(title="Hi", body="Sale"))
                 for i in range(baseline_messages)]
        service = messaging._get_messaging_service(app)

        async def baseline() -> int:
            ok = 0
            for start in range(0, len(batch), 500):
                ok += service.send_each(batch[start:start + 500]).success_count
            return ok

        service.send_each(batch[:5])
        base = await _timed("firebase-admin send_each", baseline_messages, baseline)
    finally:
        await provider.aclose()
    del firebase_admin
    return [herald, base]


async def bench_apns(settings: ProviderSettings, messages: int, baseline_messages: int) -> list[Measure]:
    """Herald's APNs provider vs one request at a time on one httpx HTTP/2 connection."""
    assert settings.apns is not None
    requests = [ApnsRequest(f"{i % 1000:064x}", _APNS_BODY) for i in range(messages)]
    provider = ApnsProvider(settings.apns)
    try:
        await provider.send_batch(requests[:10])
        herald = await _timed("apns", messages, lambda: _count_ok(provider.send_batch(requests)))

        async def baseline() -> int:
            ok = 0
            for request in requests[:baseline_messages]:
                ok += isinstance(await provider.send(request), _ok_type())
            return ok

        base = await _timed("httpx one at a time", baseline_messages, baseline)
    finally:
        await provider.aclose()
    return [herald, base]


def _ok_type() -> type:
    from core.providers.base import SendResult

    return SendResult


async def _count_ok(outcomes: Awaitable[list[Any]]) -> int:
    done = await outcomes
    return sum(isinstance(o, _ok_type()) for o in done)


async def webpush_crossover(profile: SimulatorProfile, settings: ProviderSettings, subs: list[_SubscriptionSecrets],
                            sizes: tuple[int, ...]) -> list[dict[str, float]]:
    """For each batch size: msgs/s encrypting in-process vs in the process pool (warm)."""
    assert settings.webpush is not None
    infos = [_subscription(profile, s) for s in subs]
    payload = json.dumps(_BODY).encode()
    rows = []
    inline = WebPushProvider(replace(settings.webpush, process_pool_threshold=None))
    pooled = WebPushProvider(replace(settings.webpush, process_pool_threshold=0))
    try:
        warm = [WebPushRequest(infos[i % len(infos)], payload, 3600) for i in range(200)]
        await inline.send_batch(warm)
        await pooled.send_batch(warm)
        for size in sizes:
            requests = [WebPushRequest(infos[i % len(infos)], payload, 3600) for i in range(size)]
            a = await _timed("inline", size, lambda r=requests: _count_ok(inline.send_batch(r)))  # type: ignore[misc]
            b = await _timed("pool", size, lambda r=requests: _count_ok(pooled.send_batch(r)),  # type: ignore[misc]
                             lambda: _pool_cpu(pooled))
            rows.append({"batch": size, "inline_msg_s": round(a.rate, 1), "pool_msg_s": round(b.rate, 1),
                         "inline_cpu_us": round(a.cpu_us_per_msg, 1), "pool_cpu_us": round(b.cpu_us_per_msg, 1)})
    finally:
        await inline.aclose()
        await pooled.aclose()
    return rows


@contextmanager
def simulator_process(subs: list[_SubscriptionSecrets]) -> Iterator[SimulatorProfile]:
    """The protocol services in a child process with an accept-all sink."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="herald-bench-providers-") as state_dir:
        queue = context.Queue()
        stop = context.Event()
        server = context.Process(target=_serve, args=(state_dir, subs, queue, stop), name="herald-bench-services")
        server.start()
        try:
            yield SimulatorProfile.from_json(queue.get(timeout=60))
        finally:
            stop.set()
            server.join(30)
            if server.is_alive():
                server.terminate()
                server.join()
            queue.close()
            queue.join_thread()


async def run(messages: int = 4000, baseline_messages: int = 500, sizes: tuple[int, ...] = (64, 256, 1024, 4096),
              profile: SimulatorProfile | None = None, subs: list[_SubscriptionSecrets] | None = None
              ) -> dict[str, Any]:
    """Measure all three providers (and the Web Push crossover) against a running services process."""
    assert profile is not None and subs is not None
    settings = settings_from_simulator_profile(json.loads(profile.to_json()))
    tokens = [f"device-{i}" for i in range(1000)]
    results = {
        "webpush": await bench_webpush(profile, settings, subs, messages, baseline_messages),
        "fcm": await bench_fcm(settings, tokens, messages, baseline_messages),
        "apns": await bench_apns(settings, messages, baseline_messages),
    }
    comparisons = []
    for name, (herald, base) in results.items():
        comparisons.append({
            "name": name, "unit": "msg/s", "herald": round(herald.rate, 1), "baseline": round(base.rate, 1),
            "baseline_name": base.name, "ratio": round(herald.rate / base.rate, 2) if base.rate else None,
            "herald_cpu_us_per_msg": round(herald.cpu_us_per_msg, 1),
            "baseline_cpu_us_per_msg": round(base.cpu_us_per_msg, 1),
            "errors": herald.messages - herald.ok,
        })
    crossover = await webpush_crossover(profile, settings, subs, sizes)
    return {"benchmark": "providers", "params": {"messages": messages, "baseline_messages": baseline_messages},
            "comparisons": comparisons, "figures": {"webpush_crossover": crossover}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--baseline-messages", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    subs = _new_subscriptions(200)
    with simulator_process(subs) as profile:
        result = asyncio.run(run(args.messages, args.baseline_messages, profile=profile, subs=subs))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'provider':<10}{'herald msg/s':>14}{'baseline msg/s':>16}{'ratio':>8}{'herald µs/msg':>15}"
          f"{'base µs/msg':>13}  baseline")
    for c in result["comparisons"]:
        print(f"{c['name']:<10}{c['herald']:>14}{c['baseline']:>16}{c['ratio']!s:>8}{c['herald_cpu_us_per_msg']:>15}"
              f"{c['baseline_cpu_us_per_msg']:>13}  {c['baseline_name']}")
    print("\nWeb Push encryption: in-process vs process pool")
    for row in result["figures"]["webpush_crossover"]:
        print("  ", row)


if __name__ == "__main__":
    main()
