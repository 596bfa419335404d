"""Herald's composition root: the command line, and the one place that wires core, simulator and console.

``python main.py`` opens the console; every other command runs headless (``--help`` lists them).
"""

from __future__ import annotations

import os
import sys

import typer

from core.cli_support import DbOption, err, fail, out
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


def gui() -> None:
    """Entry point of the ``herald-gui`` script: the console, nothing else."""
    sys.exit(open_console(None))


def _register_optional_commands() -> None:
    """Mount the commands whose modules live with their capability."""
    from core.collector.cli import register as register_collector
    from core.imports.cli import register as register_imports
    from simulator.cli import register as register_simulator

    register_collector(cli)
    register_imports(import_cli)
    register_simulator(cli)


_register_optional_commands()


if __name__ == "__main__":
    cli()

