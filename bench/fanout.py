"""Fan-out end to end: Herald's engine and providers against the simulator running as its own process.

A temporary workspace and simulator state hold ``--devices`` devices (mixed platforms, the simulator's
default mix): the fleet is created here, saved, and its addresses (FCM/APNs tokens, Web Push
subscriptions with the simulator's endpoint URL) become Herald ``Device`` rows. The simulator then runs as
a separate process (``python main.py simulator --state DIR``); this process is the sender. It measures:

* **webpush / fcm / apns** — one campaign per provider to all that provider's devices, sent by a warm
  ``SendEngine`` (``serve`` mode, real providers built from the simulator profile) from ``start_campaign``
  until every row is final, against the library baseline in the same run: ``pywebpush.webpush()`` in a
  loop, firebase-admin ``send_each`` (sync, a thread per message), one request at a time with httpx over
  HTTP/2 for APNs. Messages/s is wall-clock; CPU µs/message is this process's ``time.process_time()`` plus
  the CPU of its child processes (a Web Push encryption pool), read from /proc.
* **mixed** — one campaign to every device; messages/s end to end (start_campaign → all rows final). Its
  baseline is the three library baselines run one after another over the same mix (the time each needs
  for its share of the campaign, summed).
* **first_display_ms_p50** — Fast Push on the warm engine: time from ``start_campaign(fast=True)`` (to the
  whole audience) to the first ``displayed`` event of that campaign in the simulator's control stream
  (``/control/stream``; the event's own timestamp, same clock), median over ``--fast-runs``; each run is
  cancelled once its first display is seen.

::

    python -m bench.fanout [--devices 20000] [--baseline-messages 600] [--fast-runs 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.report import BenchReport, Comparison
from core.clock import SystemClock
from core.domain import CampaignState, Provider
from core.events import EventBus
from core.persistence import Database, open_database
from core.persistence.bulk import DriverValues, insert_returning
from core.persistence.models import Campaign, Variant
from core.providers.apns import ProviderTokenCache
from core.providers.factory import ProviderSettings, build_providers, settings_from_simulator_profile
from core.sending.engine import SendEngine
from core.sending.progress import CampaignStateChanged
from simulator.behaviour import BehaviourModel
from simulator.credentials import b64url, b64url_decode, load_or_create_credentials
from simulator.fleet import Fleet
from simulator.profile import SimulatorProfile, load_profile

ROOT = Path(__file__).resolve().parent.parent
CONTENT = {"title": "Flash sale", "body": "40% off everything until midnight", "deep_link": "herald://sale"}
_FINAL = {CampaignState.COMPLETED, CampaignState.CANCELLED}
_T0 = time.perf_counter()
PHASES = ("webpush", "fcm", "apns", "baselines", "mixed", "fast")


def log(message: str) -> None:
    """Progress on stderr (stdout stays the report)."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Addressed:
    """One fleet device as Herald stores it."""

    user: str
    platform: str
    provider: Provider
    token: str
    subscription: dict[str, Any] | None


@dataclass(frozen=True)
class Run:
    """One measured send: messages, wall seconds and sender CPU seconds."""

    messages: int
    ok: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0


# -- the sender's CPU -------------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sender_cpu() -> float:
    """CPU seconds of this process, its finished children and its live multiprocessing children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = sum(_proc_cpu(p.pid) for p in multiprocessing.active_children() if p.pid is not None)
    return time.process_time() + children.ru_utime + children.ru_stime + live


async def timed(messages: int, run: Callable[[], Awaitable[int]]) -> Run:
    """Run and measure one send; ``run`` returns how many messages were accepted."""
    cpu0, t0 = sender_cpu(), time.perf_counter()
    ok = await run()
    return Run(messages, ok, time.perf_counter() - t0, sender_cpu() - cpu0)


# -- fleet, simulator process, workspace ------------------------------------------------------------------


def create_fleet(state_dir: Path, devices: int, seed: int) -> list[Addressed]:
    """Create the simulator's fleet in ``state_dir`` (saved for the simulator process to load)."""
    credentials = load_or_create_credentials(state_dir)
    fleet = Fleet.open(state_dir, SystemClock(), BehaviourModel(seed),
                       application_server_key=b64url_decode(credentials.vapid_public_key))
    try:
        fleet.create(devices, seed=seed)
        fleet.save()
        out = []
        for d in fleet.devices():
            sub = None
            if d.subscription is not None:
                sub = {"endpoint_path": d.subscription.endpoint_path,
                       "keys": {"p256dh": b64url(d.subscription.keys.public_key),
                                "auth": b64url(d.subscription.keys.auth_secret)}}
            out.append(Addressed(d.user, d.platform.value, d.provider, d.token or "", sub))
        return out
    finally:
        fleet.close()


@contextlib.contextmanager
def simulator_process(state_dir: Path, devices: int) -> Iterator[tuple[SimulatorProfile, str]]:
    """``main.py simulator`` as a child process; yields its profile and control URL once it answers."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "simulator", "--state", str(state_dir), "--devices", str(devices)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 180
        ports = state_dir / "ports.json"
        control = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the simulator exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if ports.exists():
                with contextlib.suppress(ValueError, KeyError, httpx.TransportError):
                    control = f"http://127.0.0.1:{json.loads(ports.read_text())['control']}"
                    if httpx.get(f"{control}/control/stats", timeout=2).status_code == 200:
                        break
            time.sleep(0.1)
        else:
            raise RuntimeError("the simulator did not answer within 180 s")
        yield load_profile(state_dir), control
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def register_devices(db: Database, fleet: list[Addressed], webpush_base_url: str) -> dict[Provider, list[int]]:
    """One user and one ``Device`` row per fleet device (as the SDK would register them); ids by provider."""
    values = DriverValues(db.backend)
    at = values.instant(datetime.now(UTC))
    with db.transaction() as s:
        users = dict(insert_returning(
            s, "users", ("external_id", "attributes", "marketing_consent", "first_seen", "last_seen"),
            [(d.user, "{}", True, at, at) for d in fleet], "(external_id) DO NOTHING", "external_id, id",
        ))
        rows = []
        for d in fleet:
            sub = None
            token = d.token
            if d.subscription is not None:
                token = webpush_base_url.rstrip("/") + d.subscription["endpoint_path"]
                sub = values.json({"endpoint": token, "keys": d.subscription["keys"]})
            rows.append((users[d.user], d.platform, d.provider.value, token, sub, True, at, at))
        found = insert_returning(
            s, "devices", ("user_id", "platform", "provider", "token", "subscription", "push_enabled",
                           "registered_at", "last_registered_at"),
            rows, "(provider, token) DO NOTHING", "id, provider",
        )
    out: dict[Provider, list[int]] = {p: [] for p in Provider}
    for device_id, provider in sorted(found):
        out[Provider(provider)].append(device_id)
    return out


def add_campaign(db: Database, name: str) -> int:
    """A draft campaign to all devices with one variant; returns its id."""
    now = datetime.now(UTC)
    with db.transaction() as s:
        campaign = Campaign(name=name, state="draft", content=dict(CONTENT), audience={"all_devices": True},
                            settings={}, created_at=now, updated_at=now)
        s.add(campaign)
        s.flush()
        s.add(Variant(campaign_id=campaign.id, name="A", content=dict(CONTENT), share=1.0))
        return campaign.id


# -- Herald: a warm engine in serve mode ------------------------------------------------------------------


class Sender:
    """A SendEngine serving in the background; ``send`` starts a campaign and waits until it is final."""

    def __init__(self, db: Database, settings: ProviderSettings) -> None:
        self.db = db
        self.bus = EventBus()
        self.providers = build_providers(settings, SystemClock())
        self.engine = SendEngine(db, self.providers, SystemClock(), self.bus)
        self._done: dict[int, asyncio.Future[CampaignState]] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.bus.subscribe(self._on_state, CampaignStateChanged)

    def _on_state(self, event: CampaignStateChanged) -> None:
        waiter = self._done.get(event.campaign_id)
        if waiter is not None and not waiter.done() and event.state in _FINAL:
            waiter.set_result(event.state)

    async def start(self) -> None:
        """Connect every provider, then serve."""
        await self.engine.warm_up()
        self._task = asyncio.create_task(self.engine.serve(self._stop))

    async def send(self, campaign_id: int, device_ids: list[int] | None, fast: bool = False) -> int:
        """Start the campaign and wait until every row is final; returns rows sent."""
        waiter = self._done[campaign_id] = asyncio.get_running_loop().create_future()
        await self.engine.start_campaign(campaign_id, fast=fast, device_ids=device_ids)
        await waiter
        self._explain(campaign_id)
        return self.engine.outbox.counts(campaign_id).get("sent", 0)

    def _explain(self, campaign_id: int) -> None:
        with self.db.transaction() as s:
            cursor = s.connection().connection.cursor()
            cursor.execute("SELECT attempts, error_class, COUNT(*) FROM deliveries WHERE campaign_id = ? "
                           "GROUP BY attempts, error_class", (campaign_id,))
            rows = cursor.fetchall()
            cursor.close()
        if any(a != 1 or e for a, e, _ in rows):
            log(f"campaign {campaign_id} attempts/errors: {rows}")

    def watch(self, campaign_id: int) -> asyncio.Future[CampaignState]:
        """A future set when the campaign becomes final."""
        waiter = self._done[campaign_id] = asyncio.get_running_loop().create_future()
        return waiter

    async def idle(self) -> None:
        """Wait until no batch is in flight."""
        while any(lane.busy for lane in self.engine.lanes.values()):
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        for provider in self.providers.values():
            await provider.aclose()


# -- baselines --------------------------------------------------------------------------------------------


def baseline_webpush(profile: SimulatorProfile, subscriptions: list[dict[str, Any]], n: int) -> int:
    """``pywebpush.webpush()`` in a loop (requests, VAPID signed per call)."""
    from pywebpush import WebPushException, webpush

    payload = json.dumps({"title": CONTENT["title"], "body": CONTENT["body"], "tag": "sale"})
    ok = 0
    for i in range(n):
        try:
            response = webpush(subscriptions[i % len(subscriptions)], payload,
                               vapid_private_key=profile.vapid_private_key_path,
                               vapid_claims={"sub": "mailto:bench@herald.invalid"}, ttl=3600)
        except WebPushException:  # a simulated user unsubscribed after an earlier push: 410
            continue
        ok += getattr(response, "status_code", 0) == 201
    return ok


def baseline_fcm(profile: SimulatorProfile, tokens: list[str], n: int) -> int:
    """firebase-admin ``messaging.send_each`` (sync; a thread per message) in calls of 500."""
    import firebase_admin
    from firebase_admin import credentials, messaging

    app = firebase_admin.initialize_app(credentials.Certificate(profile.service_account_path),
                                        {"projectId": profile.project_id}, name=f"bench-fanout-{os.getpid()}")
    try:
        service = messaging._get_messaging_service(app)
        service._fcm_url = profile.fcm_send_url.format(profile.project_id)
        batch = [messaging.Message(fid=tokens[i % len(tokens)], notification=messaging.Notification(
            title=CONTENT["title"], body=CONTENT["body"]), data={"url": "herald://sale"}) for i in range(n)]
        ok = 0
        for start in range(0, len(batch), 500):
            ok += messaging.send_each(batch[start:start + 500], app=app).success_count
        return ok
    finally:
        firebase_admin.delete_app(app)


async def baseline_apns(profile: SimulatorProfile, tokens: list[str], n: int) -> int:
    """One request at a time with ``httpx.AsyncClient(http2=True)`` (TLS, one connection, cached JWT)."""
    context = ssl.create_default_context(cafile=profile.ca_cert_path)
    cache = ProviderTokenCache(Path(profile.apns_key_path).read_bytes(), profile.apns_key_id, profile.apns_team_id,
                               40 * 60, SystemClock())
    payload = json.dumps({"aps": {"alert": {"title": CONTENT["title"], "body": CONTENT["body"]}}}).encode()
    ok = 0
    async with httpx.AsyncClient(http2=True, verify=context) as client:
        for i in range(n):
            headers = {"authorization": f"bearer {cache.current()}", "apns-topic": profile.apns_bundle_id,
                       "apns-push-type": "alert", "apns-priority": "10"}
            response = await client.post(f"{profile.apns_url}/3/device/{tokens[i % len(tokens)]}",
                                         headers=headers, content=payload)
            ok += response.status_code == 200
    return ok


# -- Fast Push: first display ------------------------------------------------------------------------------


class DisplayWatch:
    """Follows the simulator's control stream and remembers the first ``displayed`` time per campaign."""

    def __init__(self, control_url: str) -> None:
        self._url = f"{control_url}/control/stream"
        self.first: dict[str, datetime] = {}
        self._waiters: dict[str, asyncio.Future[datetime]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow())
        await asyncio.wait_for(self._ready.wait(), 30)

    def wait(self, campaign_id: int) -> asyncio.Future[datetime]:
        waiter = self._waiters[str(campaign_id)] = asyncio.get_running_loop().create_future()
        return waiter

    async def _follow(self) -> None:
        async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", self._url) as response:
            self._ready.set()
            name = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "displayed":
                    event = json.loads(line[6:])
                    campaign = event.get("campaign_id")
                    if campaign is not None and campaign not in self.first:
                        at = datetime.fromisoformat(event["at"])
                        self.first[campaign] = at
                        waiter = self._waiters.get(campaign)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(at)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def first_display(sender: Sender, watch: DisplayWatch, runs: int) -> list[tuple[float, float]]:
    """Per run: ms from ``start_campaign(fast=True)`` to the first display, and ms that start_campaign took
    (writing the whole audience to the outbox); each run is then cancelled."""
    out = []
    for i in range(runs):
        campaign_id = add_campaign(sender.db, f"fast-{i}")
        shown = watch.wait(campaign_id)
        final = sender.watch(campaign_id)
        commanded = datetime.now(UTC)
        t0 = time.perf_counter()
        await sender.engine.start_campaign(campaign_id, fast=True)
        started_ms = (time.perf_counter() - t0) * 1000
        at = await asyncio.wait_for(shown, 30)
        out.append(((at - commanded).total_seconds() * 1000, started_ms))
        log(f"fast push {i}: first display after {out[-1][0]:.1f} ms (start_campaign {started_ms:.1f} ms)")
        await sender.engine.cancel(campaign_id)
        await asyncio.wait_for(final, 60)
        await sender.idle()
        await asyncio.sleep(0.5)  # the simulator finishes what the cancelled run had in flight
    return out


# -- the run -----------------------------------------------------------------------------------------------


async def measure(db: Database, profile: SimulatorProfile, control_url: str, fleet: list[Addressed],
                  ids: dict[Provider, list[int]], baseline_messages: int, fast_runs: int,
                  phases: frozenset[str] = frozenset(PHASES)) -> BenchReport:
    """Everything, in one loop: per-provider campaigns and baselines, the mixed campaign, Fast Push.

    ``phases`` (for profiling one part) skips the others; their figures are then missing or zero.
    """
    settings = settings_from_simulator_profile(json.loads(profile.to_json()))
    sender = Sender(db, settings)
    await sender.start()
    subs = [{"endpoint": profile.webpush_base_url + d.subscription["endpoint_path"], "keys": d.subscription["keys"]}
            for d in fleet if d.subscription is not None]
    tokens = {p: [d.token for d in fleet if d.provider is p] for p in (Provider.FCM, Provider.APNS)}
    empty = Run(0, 0, 0.0, 0.0)
    herald: dict[str, Run] = dict.fromkeys(("webpush", "fcm", "apns", "mixed"), empty)
    base: dict[str, Run] = dict.fromkeys(("webpush", "fcm", "apns"), empty)
    displays: list[tuple[float, float]] = []
    total = sum(len(v) for v in ids.values())
    try:
        for provider in (Provider.WEBPUSH, Provider.FCM, Provider.APNS):
            if provider.value not in phases:
                continue
            campaign_id = add_campaign(db, f"bench-{provider.value}")
            targets = ids[provider]
            herald[provider.value] = await timed(len(targets),
                                                 lambda c=campaign_id, t=targets: sender.send(c, t))  # type: ignore[misc]
            log(f"herald {provider.value}: {herald[provider.value]}")
        if "baselines" in phases:
            n_web, n_fcm, n_apns = (min(baseline_messages, len(ids[p]))
                                    for p in (Provider.WEBPUSH, Provider.FCM, Provider.APNS))

            async def web() -> int:
                return baseline_webpush(profile, subs, n_web)

            async def fcm() -> int:
                return await asyncio.to_thread(baseline_fcm, profile, tokens[Provider.FCM], n_fcm)

            base["webpush"] = await timed(n_web, web)
            log(f"baseline webpush: {base['webpush']}")
            base["fcm"] = await timed(n_fcm, fcm)
            log(f"baseline fcm: {base['fcm']}")
            base["apns"] = await timed(n_apns, lambda: baseline_apns(profile, tokens[Provider.APNS], n_apns))
            log(f"baseline apns: {base['apns']}")
        if "mixed" in phases:
            campaign_id = add_campaign(db, "bench-mixed")
            herald["mixed"] = await timed(total, lambda: sender.send(campaign_id, None))
            log(f"herald mixed: {herald['mixed']}")
        if "fast" in phases:
            watch = DisplayWatch(control_url)
            await watch.start()
            try:
                displays = await first_display(sender, watch, fast_runs)
            finally:
                await watch.close()
    finally:
        await sender.close()

    # The mixed baseline: each library's measured rate applied to its share of the campaign.
    shares = {"webpush": len(ids[Provider.WEBPUSH]), "fcm": len(ids[Provider.FCM]), "apns": len(ids[Provider.APNS])}
    base_seconds = sum(n / base[k].rate for k, n in shares.items() if n and base[k].rate)
    base_cpu = sum(n * base[k].cpu_us for k, n in shares.items()) / max(sum(shares.values()), 1)
    mixed_base = sum(shares.values()) / base_seconds if base_seconds else 0.0

    names = {"webpush": "pywebpush.webpush() loop", "fcm": "firebase-admin send_each",
             "apns": "httpx HTTP/2, one request at a time"}
    comparisons = [Comparison(k, "msg/s", round(herald[k].rate, 1), round(base[k].rate, 1), names[k])
                   for k in ("webpush", "fcm", "apns")]
    comparisons.append(Comparison("mixed", "msg/s", round(herald["mixed"].rate, 1), round(mixed_base, 1),
                                  "the three baselines in turn over the same mix"))
    figures: dict[str, float] = {}
    if displays:
        figures["first_display_ms_p50"] = round(statistics.median(d for d, _ in displays), 1)
        figures["first_display_ms_max"] = round(max(d for d, _ in displays), 1)
        figures["fast_start_campaign_ms_p50"] = round(statistics.median(s for _, s in displays), 1)
    for k in ("webpush", "fcm", "apns", "mixed"):
        figures[f"{k}_herald_cpu_us_per_msg"] = round(herald[k].cpu_us, 1)
        figures[f"{k}_errors"] = herald[k].messages - herald[k].ok
    for k in ("webpush", "fcm", "apns"):
        figures[f"{k}_baseline_cpu_us_per_msg"] = round(base[k].cpu_us, 1)
    figures["mixed_baseline_cpu_us_per_msg"] = round(base_cpu, 1)
    params = {"devices": total, "webpush": shares["webpush"], "fcm": shares["fcm"], "apns": shares["apns"],
              "baseline_messages": baseline_messages, "fast_runs": fast_runs, "database": "sqlite",
              "simulator": "separate process"}
    return BenchReport("fanout", params, comparisons, figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=20_000, help="simulated devices (mixed platforms)")
    parser.add_argument("--baseline-messages", type=int, default=600, help="messages per library baseline")
    parser.add_argument("--fast-runs", type=int, default=7, help="Fast Push runs (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset (for profiling)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    phases = frozenset(p.strip() for p in args.phases.split(",") if p.strip())
    with tempfile.TemporaryDirectory(prefix="herald-bench-fanout-") as tmp:
        state_dir = Path(tmp, "simulator")
        state_dir.mkdir()
        fleet = create_fleet(state_dir, args.devices, args.seed)
        log(f"fleet of {len(fleet)} created")
        db = open_database(f"sqlite:///{Path(tmp, 'herald.db')}")
        try:
            with simulator_process(state_dir, args.devices) as (profile, control_url):
                log("simulator up")
                ids = register_devices(db, fleet, profile.webpush_base_url)
                log("devices registered")
                report = asyncio.run(measure(db, profile, control_url, fleet, ids, args.baseline_messages,
                                             args.fast_runs, phases))
        finally:
            db.dispose()
    if not args.json and "baselines" in phases:
        for k in ("webpush", "fcm", "apns", "mixed"):
            print(f"  {k}: Herald {report.figures[f'{k}_herald_cpu_us_per_msg']:,.0f} µs CPU/msg, baseline "
                  f"{report.figures[f'{k}_baseline_cpu_us_per_msg']:,.0f} µs CPU/msg", file=sys.stderr)
    report.emit(args.json)


if __name__ == "__main__":
    main()
