"""How fast events get from an SDK, over HTTP, into the SQLite workspace.

Herald: ``herald serve`` runs in its own process (as in production); this process posts pre-encoded batches
of 500 events with a few requests in flight and times until every batch is answered.
Baseline, same run, same machine: the naive way — one ORM session and one commit per event.

    python -m bench.ingest [--events 100000] [--baseline-events 5000] [--batch 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from sqlalchemy import func, select

from bench.report import BenchReport, Comparison
from core.persistence import open_database
from core.persistence.models import Event, User

KEY = "hk_bench"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_events(n: int, users: int, prefix: str) -> list[dict[str, object]]:
    """Synthetic app events: views, carts and purchases spread over users and a day."""
    names = ("session_start", "view_item", "add_to_cart", "purchase")
    out: list[dict[str, object]] = []
    for i in range(n):
        name = names[i % 4]
        out.append({
            "id": f"{prefix}-{i}", "user": f"user-{i % users}", "name": name,
            "at": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "properties": {"item": f"sku-{i % 97}", "screen": "home"},
            "revenue": 19.5 if name == "purchase" else None,
        })
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, port: int) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, str(root / "main.py"), "serve", "--db", db_url, "--port", str(port), "--sdk-key", KEY],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"herald serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/sdk/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("herald serve did not answer within 60 s")


async def post_all(url: str, bodies: list[bytes], in_flight: int) -> tuple[float, list[float], int]:
    """Post every body with ``in_flight`` requests outstanding; wall time, per-request latencies, accepted."""
    latencies: list[float] = []
    accepted = 0
    queue = iter(bodies)
    headers = {"X-Herald-Key": KEY, "content-type": "application/json"}
    # TCP_NODELAY: without it Nagle's algorithm and the server's delayed ACK add ~40 ms to every request
    # on a kept-alive connection (measured here), and the benchmark would time the client, not Herald.
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=in_flight), socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(timeout=120, transport=transport) as client:

        async def worker() -> None:
            nonlocal accepted
            for body in queue:
                start = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()
                accepted += response.json()["accepted"]

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - start, latencies, accepted


def run_herald(workdir: Path, n: int, batch: int, users: int, in_flight: int) -> tuple[float, float]:
    """Events/s through the HTTP API and the median batch latency in ms."""
    db_url = f"sqlite:///{workdir / 'herald.db'}"
    open_database(db_url).dispose()
    events = make_events(n, users, "h")
    bodies = [orjson.dumps({"events": events[i : i + batch]}) for i in range(0, n, batch)]
    port = free_port()
    server = start_server(db_url, port)
    try:
        url = f"http://127.0.0.1:{port}/sdk/v1/events"
        asyncio.run(post_all(url, bodies[:2], 1))  # warm-up: connections, statement caches
        wall, latencies, accepted = asyncio.run(post_all(url, bodies[2:], in_flight))
    finally:
        server.terminate()
        server.wait(timeout=30)
    expected = n - 2 * batch
    if accepted != expected:
        raise RuntimeError(f"server accepted {accepted} of {expected} events")
    db = open_database(db_url)
    with db.transaction() as s:
        stored = s.scalar(select(func.count()).select_from(Event))
    db.dispose()
    if stored != n:
        raise RuntimeError(f"{stored} events stored, expected {n}")
    return accepted / wall, statistics.median(latencies) * 1000


def run_baseline(workdir: Path, n: int, users: int) -> float:
    """Events/s inserting one event per ORM session commit."""
    db = open_database(f"sqlite:///{workdir / 'baseline.db'}")
    with db.transaction() as s:
        s.add_all(User(external_id=f"user-{u}", attributes={}, first_seen=T0, last_seen=T0) for u in range(users))
    with db.transaction() as s:
        ids = dict(s.execute(select(User.external_id, User.id)).all())
    events = make_events(n, users, "b")
    start = time.perf_counter()
    for ev in events:
        with db.sessions() as session:
            session.add(Event(
                event_id=ev["id"], user_id=ids[ev["user"]], name=ev["name"], properties=ev["properties"],
                revenue=ev["revenue"], occurred_at=datetime.fromisoformat(str(ev["at"])),
                received_at=datetime.now(UTC),
            ))
            session.commit()
    elapsed = time.perf_counter() - start
    db.dispose()
    return n / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events posted to Herald")
    parser.add_argument("--baseline-events", type=int, default=5_000, help="events the baseline inserts")
    parser.add_argument("--batch", type=int, default=500, help="events per request")
    parser.add_argument("--users", type=int, default=2_000, help="distinct users in the events")
    parser.add_argument("--in-flight", type=int, default=4, help="requests outstanding at once")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        workdir = Path(tmp)
        herald_rate, p50_ms = run_herald(workdir, args.events, args.batch, args.users, args.in_flight)
        baseline_rate = run_baseline(workdir, args.baseline_events, args.users)
    report = BenchReport(
        "ingest",
        {"events": args.events, "baseline_events": args.baseline_events, "batch": args.batch,
         "users": args.users, "in_flight": args.in_flight, "database": "sqlite"},
        [Comparison("ingest", "events/s", round(herald_rate, 1), round(baseline_rate, 1),
                    "one ORM session commit per event (SQLite)")],
        {"batch_latency_ms_p50": round(p50_ms, 2)},
    )
    report.emit(args.json)


if __name__ == "__main__":
    main()
