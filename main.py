"""Herald's composition root: the command line, and the one place that wires core, simulator and console.

``python main.py`` opens the console; every other command runs headless (``--help`` lists them).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from core.cli_support import DbOption, err, fail, out, progress_bar
from core.config import DB_ENV
from core.errors import HeraldError

cli = typer.Typer(
    name="herald",
    help="Herald: compose, send, watch and recall push campaigns; with a bundled device simulator.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Workspace database maintenance.", no_args_is_help=True)
import_cli = typer.Typer(help="Import users or events from CSV files.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(import_cli, name="import")

def has_display() -> bool:
    """Whether a window can be opened here (a display server, or a Qt platform chosen explicitly)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@cli.callback(invoke_without_command=True)
def root(ctx: typer.Context, db: DbOption = None) -> None:
    """With no command, open the console window."""
    if db:
        # A workspace given before the command applies to every command (herald --db URL serve).
        os.environ[DB_ENV] = db
    if ctx.invoked_subcommand is None:
        raise typer.Exit(open_console(db))


def open_console(db: str | None) -> int:
    """Open the console on the workspace at ``db``; on a headless machine say so and name the alternatives."""
    if not has_display():
        err.print(
            "[bold]No display found[/] (neither DISPLAY nor WAYLAND_DISPLAY is set), so the console window "
            "cannot open here.\nHeadless commands work without one: [cyan]herald serve[/], "
            "[cyan]herald import[/], [cyan]herald db upgrade[/] (see [cyan]herald --help[/]). "
            "To render offscreen anyway, set QT_QPA_PLATFORM=offscreen."
        )
        return 2
    from console.app import run_console

    try:
        return run_console(db_url=db)
    except HeraldError as exc:
        raise fail(str(exc)) from None


@db_cli.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Migrate the workspace database to the newest schema (opening it does this too)."""
    from core.config import resolve_db_url
    from core.persistence.database import create_workspace_engine, current_revision, head_revision, upgrade

    url = resolve_db_url(db)
    try:
        engine = create_workspace_engine(url)
        before = current_revision(engine)
        upgrade(engine)
    except HeraldError as exc:
        raise fail(str(exc)) from None
    after = head_revision()
    safe = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    if before == after:
        out.print(f"Workspace {safe} is already at revision {after}.")
    else:
        out.print(f"Workspace {safe} migrated from {before or 'empty'} to {after}.")


@cli.command("demo")
def demo(
    db: DbOption = None,
    users: Annotated[int, typer.Option(help="How many synthetic users (each with 1–3 devices).")] = 2_000,
    seed: Annotated[int, typer.Option(help="Same seed, same people, devices and history.")] = 1,
    state: Annotated[
        Path | None, typer.Option("--state", help="Simulator state folder (default: the user data folder's).",
                                  show_default=False)
    ] = None,
) -> None:
    """Create the demo workspace: users with traits, their simulated devices and 90 days of history."""
    from core.clock import SystemClock
    from core.collector.server import BackgroundIngestServer, build_ingest_app
    from core.config import resolve_db_url
    from core.imports.users import import_users
    from core.persistence import open_database
    from simulator.cli import default_state_dir
    from simulator.demo import build_demo

    if users < 1:
        raise fail("--users must be at least 1")
    try:
        database = open_database(resolve_db_url(db))
    except HeraldError as exc:
        raise fail(str(exc)) from None
    app = build_ingest_app(database)
    server = BackgroundIngestServer(app)
    address = server.start()
    state_dir = state or default_state_dir()
    labels = {"devices": "Creating devices", "users": "Importing users", "registrations": "Registering devices",
              "history": "Backfilling 90 days"}
    try:
        with progress_bar() as bar:
            tasks: dict[str, TaskID] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(labels[stage], total=total)
                bar.update(tasks[stage], completed=done, total=total)

            result = build_demo(
                state_dir, address.url, app.sdk_key, users=users, seed=seed, now=SystemClock().now(),
                import_users_csv=lambda path: import_users(database, path), progress=on_progress,
            )
    finally:
        server.stop()
        database.dispose()
    h = result.history
    out.print(
        f"Demo workspace ready: {result.users:,} users, {result.devices:,} devices "
        f"({result.registrations_failed} failed to register), {h.accepted:,} history events "
        f"({h.duplicates:,} already there, {h.rejected:,} rejected).\n"
        f"Run the simulator on it: herald simulator --population --state {state_dir} --seed {seed}",
        highlight=False,
    )


def gui() -> None:
    """Entry point of the ``herald-gui`` script: the console, nothing else."""
    sys.exit(open_console(None))


def _register_optional_commands() -> None:
    """Mount the commands whose modules live with their capability."""
    from core.campaigns.cli import register as register_campaigns
    from core.collector.cli import register as register_collector
    from core.imports.cli import register as register_imports
    from core.providers.profile_cli import register as register_profiles
    from core.sending.cli import register as register_send
    from simulator.cli import register as register_simulator

    register_collector(cli)
    register_imports(import_cli)
    register_profiles(cli)
    register_campaigns(cli)
    register_send(cli)
    register_simulator(cli)


_register_optional_commands()


if __name__ == "__main__":
    cli()

