"""Shared pieces of Herald's command line: consoles, the ``--db`` option, and errors without tracebacks.

Each capability keeps its commands next to its code (``core/collector/cli.py``, ``simulator/cli.py`` …)
and ``main.py`` mounts them; this module is what they have in common.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Workspace database URL (default: HERALD_DB, else SQLite in the user data folder).",
        show_default=False,
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for a person (no traceback) and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def progress_bar() -> Progress:
    """The progress bar every long command shows (on stderr, so stdout stays machine-readable)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
