"""``herald simulator``: run the device simulator as its own process, and print its provider profile.

This module is the simulator's own command line; it imports nothing of ``core`` but the shared types, so
the simulator stays a separate program that talks to Herald only over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from core.config import simulator_state_dir
from core.domain import Platform
from simulator.profile import load_profile
from simulator.runtime import RuntimeOptions, SimulatorRuntime
from simulator.services.faults import FaultSettings

err = Console(stderr=True, soft_wrap=True)


def default_state_dir() -> Path:
    """``<user data dir>/herald/simulator`` (``HERALD_HOME`` overrides the parent folder)."""
    return simulator_state_dir()


StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="Simulator state folder (default: the user data folder's simulator/).",
                 show_default=False),
]


def _parse_mix(text: str | None) -> dict[Platform, float] | None:
    if not text:
        return None
    mix: dict[Platform, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        try:
            mix[Platform(name.strip())] = float(share)
        except ValueError:
            raise typer.BadParameter(f"{part!r}: use e.g. android=0.5,ios=0.3,web=0.2") from None
    return mix


FAULT_SERVICES = ("oauth", "fcm", "apns", "webpush")


def parse_faults(specs: list[str]) -> dict[str, dict[str, Any]]:
    """``["apns.rate_503=0.05", "webpush.latency={\"kind\": \"fixed\", \"ms\": 20}"]`` → per-service changes."""
    known = {f.name for f in fields(FaultSettings)}
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        target, sep, raw = spec.partition("=")
        service, dot, name = target.partition(".")
        if not sep or not dot:
            raise typer.BadParameter(f"{spec!r}: write SERVICE.SETTING=VALUE, e.g. apns.rate_503=0.05")
        if service not in FAULT_SERVICES:
            raise typer.BadParameter(f"{spec!r}: the service is one of {', '.join(FAULT_SERVICES)}")
        if name not in known:
            raise typer.BadParameter(f"{spec!r}: the setting is one of {', '.join(sorted(known))}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(service, {})[name] = value
    for service, changes in out.items():
        try:
            FaultSettings(**{k: v for k, v in changes.items() if k != "latency"})
        except (TypeError, ValueError) as exc:
            raise typer.BadParameter(f"{service}: {exc}") from None
    return out


def register(cli: typer.Typer) -> None:
    """Add the ``simulator`` command group to the root command."""
    group = typer.Typer(help="The device simulator: virtual phones and browsers behind FCM, APNs and Web Push.")
    cli.add_typer(group, name="simulator")

    @group.callback(invoke_without_command=True)
    def run(
        ctx: typer.Context,
        state: StateOption = None,
        devices: Annotated[int, typer.Option(help="Create devices until the fleet has this many.")] = 0,
        population: Annotated[
            bool, typer.Option("--population", help="Run the fleet already in --state (e.g. from herald demo).")
        ] = False,
        mix: Annotated[str | None, typer.Option(help="Platform shares, e.g. android=0.5,ios=0.3,web=0.2.")] = None,
        seed: Annotated[int, typer.Option(help="Seed for new devices and user behaviour.")] = 0,
        herald: Annotated[
            str | None, typer.Option(help="Herald's SDK API to report to, e.g. http://127.0.0.1:8077.")
        ] = None,
        sdk_key: Annotated[
            str | None, typer.Option("--sdk-key", envvar="HERALD_SDK_KEY", show_default=False,
                                     help="Key for Herald's SDK API (herald sdk-key prints it).")
        ] = None,
        time_scale: Annotated[float, typer.Option(help="Make users react this many times faster.")] = 1.0,
        fault: Annotated[
            list[str] | None,
            typer.Option(help="Switch a fault on at start, e.g. apns.rate_503=0.05 or webpush.rate_429=0.1 "
                              "(repeatable; change them at run time with PUT /control/faults/SERVICE)."),
        ] = None,
    ) -> None:
        """Run the simulator until Ctrl+C (with no sub-command)."""
        if ctx.invoked_subcommand is not None:
            return
        if devices and population:
            raise typer.BadParameter("give --devices N or --population, not both")
        if time_scale <= 0:
            raise typer.BadParameter("--time-scale must be above 0 (e.g. 60 makes users react 60 times faster)")
        options = RuntimeOptions(
            devices=devices, seed=seed, mix=_parse_mix(mix), herald_url=herald, sdk_key=sdk_key,
            time_scale=1 / time_scale, faults=parse_faults(fault or []),
        )
        state_dir = state or default_state_dir()
        try:
            asyncio.run(_serve(state_dir, options))
        except (OSError, ValueError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None

    @group.command("profile")
    def profile(state: StateOption = None) -> None:
        """Print the provider profile (base URLs, credential files) Herald loads to send to this simulator."""
        state_dir = state or default_state_dir()
        try:
            loaded = load_profile(state_dir)
        except FileNotFoundError:
            err.print(
                f"[bold red]error:[/] no simulator has run in {state_dir} yet, so it has no profile. "
                f"Start it once: herald simulator --state {state_dir}",
                highlight=False,
            )
            raise typer.Exit(1) from None
        typer.echo(json.dumps(json.loads(loaded.to_json()), indent=2))


async def _serve(state_dir: Path, options: RuntimeOptions) -> None:
    runtime = SimulatorRuntime(state_dir, options)
    with err.status("Starting the simulator…"):
        info = await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    reporting = f"reporting to {options.herald_url}" if options.herald_url else "not reporting to Herald (--herald)"
    err.print(
        f"Simulator running with [bold]{info.devices:,}[/] devices, {reporting}.\n"
        f"  control API  {info.control_url}/control/stats\n"
        f"  profile      herald simulator profile --state {state_dir}\n"
        "Ctrl+C stops.",
        highlight=False,
    )
    try:
        await stop.wait()
    finally:
        with err.status("Stopping (saving the fleet)…"):
            await runtime.stop()
