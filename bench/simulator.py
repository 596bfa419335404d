"""The simulator's size and speed: memory and start-up for large fleets, requests/s per protocol service.

* **Fleet**: for each size (10k and 100k devices by default) a child process creates the fleet in a fresh
  state folder and saves it (``create_s``); a second child starts the whole simulator on that folder — load
  the fleet, bind every service, ready to accept (``startup_s``) — and reports its resident memory (VmRSS).
* **Services** (``bench.simulator_services``): the real services delivering into a 3,000-device fleet, and
  a bare server on the same transports that accepts everything without checking, decrypting or delivering.
  Comparisons ``webpush`` / ``apns`` / ``fcm``: accepted requests/s with the real client libraries (herald)
  against the same clients on the bare server (baseline). ``<service>_lean``: the same, driven by lean
  clients in two processes (bodies encrypted once and re-sent, a bare h2 client for APNs) so the service
  rather than the library is the limit. Figures ``<service>_per_server_cpu_s`` (and ``..._bare_...``):
  accepted requests per second of server CPU under the lean clients — what one server core sustains, the
  figure to hold against "keep up with 3,000 requests/s" on a box where clients and server share 2 cores.

With ``--runs N`` every measure is the median of N runs.

    python -m bench.simulator [--sizes 10000,100000] [--duration 3] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import BenchReport, Comparison
from bench.simulator_services import measure_services


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _create(state_dir: str, devices: int, out: Any) -> None:
    from simulator.runtime import RuntimeOptions, RuntimeThread

    started = time.perf_counter()
    thread = RuntimeThread(Path(state_dir), RuntimeOptions(devices=devices, seed=1))
    thread.start()
    thread.stop()
    out.put(time.perf_counter() - started)


def _start(state_dir: str, out: Any) -> None:
    started = time.perf_counter()
    from simulator.runtime import RuntimeThread

    thread = RuntimeThread(Path(state_dir))
    info = thread.start()
    ready = time.perf_counter() - started
    out.put((ready, _rss_mib(), info.devices))
    thread.stop()


def measure_fleet(devices: int) -> dict[str, float]:
    """Create a fleet of ``devices`` in a child process, then time a fresh start on it in another."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="herald-bench-fleet-") as state_dir:
        queue = context.Queue()
        creator = context.Process(target=_create, args=(state_dir, devices, queue))
        creator.start()
        create_s = queue.get(timeout=1200)
        creator.join()
        starter = context.Process(target=_start, args=(state_dir, queue))
        starter.start()
        startup_s, rss, loaded = queue.get(timeout=600)
        starter.join()
    if loaded != devices:
        raise RuntimeError(f"started with {loaded} devices, expected {devices}")
    return {"create_s": create_s, "startup_s": startup_s, "rss_mib": rss}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs if key in run), 2)
            for key in runs[0] if all(key in run for run in runs)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="fleet sizes, comma-separated")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds each service is driven")
    parser.add_argument("--runs", type=int, default=1, help="report the median of this many runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    fleet_runs, real_runs, bare_runs = [], [], []
    for _ in range(args.runs):
        figures: dict[str, float] = {}
        for size in sizes:
            label = f"{size // 1000}k"
            for key, value in measure_fleet(size).items():
                figures[f"{key}_{label}"] = round(value, 2)
        fleet_runs.append(figures)
        real_runs.append(measure_services(args.duration))
        bare_runs.append(measure_services(args.duration, bare=True))
    fleet, real, bare = _median(fleet_runs), _median(real_runs), _median(bare_runs)
    comparisons = [
        Comparison(name, "req/s", real[name], bare[name], f"same {client} on a bare accept-all server")
        for names, client in ((("webpush", "apns", "fcm"), "client library"),
                              (("webpush_lean", "apns_lean", "fcm_lean"), "lean clients"))
        for name in names
    ]
    capacity = {f"{name}_per_server_cpu_s": real[f"{name}_lean_per_server_cpu_s"]
                for name in ("webpush", "apns", "fcm")}
    capacity.update({f"{name}_bare_per_server_cpu_s": bare[f"{name}_lean_per_server_cpu_s"]
                     for name in ("webpush", "apns", "fcm")})
    errors = {k: v for k, v in real.items() if k.endswith("_errors") and v}
    report = BenchReport(
        "simulator",
        {"sizes": sizes, "duration_s": args.duration, "runs": args.runs, "loadavg_1m": round(os.getloadavg()[0], 2)},
        comparisons,
        {**fleet, **capacity, **errors},
    )
    report.emit(args.json)


if __name__ == "__main__":
    main()
