"""``herald import users|events FILE.csv``: CSV imports on the command line.

The file is checked before the database is opened, so a file that cannot be read fails fast with a
message and exit code 1 and nothing is written. Once the file is read the command exits 0 even when some
rows were rejected, and says so: the summary line goes to stdout, the rejects and hints to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from core.cli_support import DbOption, err, fail, out, progress_bar
from core.config import resolve_db_url
from core.errors import HeraldError
from core.imports.csv_reader import CsvFile, open_csv
from core.imports.events import import_events
from core.imports.rejects import default_rejects_path
from core.imports.users import import_users
from core.persistence import Database, open_database

#: Files with at least this many lines get a progress bar; smaller ones finish before it would help.
PROGRESS_MIN_LINES = 5000

FileArgument = Annotated[
    Path,
    typer.Argument(help="The CSV file (UTF-8; comma, semicolon or tab separated; header row first).",
                   show_default=False),
]
RejectsOption = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where to write rejected rows (default: FILE.rejects.csv beside FILE).",
                 show_default=False),
]


def register(import_cli: typer.Typer) -> None:
    """Add the ``users`` and ``events`` commands to the ``import`` command group."""
    import_cli.command("users")(import_users_command)
    import_cli.command("events")(import_events_command)


def import_users_command(file: FileArgument, db: DbOption = None, rejects: RejectsOption = None) -> None:
    """Import or update users: external_id, built-in fields, and one attribute per other column.

    Built-in columns: locale, timezone, marketing_consent, latitude, longitude, first_seen, last_seen.
    Attribute columns are NAME (type inferred) or NAME:TYPE with TYPE string, number, boolean or datetime.
    """
    source = _open(file)
    with _database(db) as database, _progress(source, "Importing users") as advance:
        result = import_users(database, source, rejects_path=rejects, progress=advance)
    for warning in result.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    summary = f"Imported {result.imported} new users, updated {result.updated}, rejected {result.rejected}"
    _finish(summary, result.rejected, result.rejects_path or _target(file, rejects), result.first_rejects,
            "existing users are updated, not duplicated")


def import_events_command(file: FileArgument, db: DbOption = None, rejects: RejectsOption = None) -> None:
    """Import events: user, name, at (ISO 8601), and optionally id, revenue, properties, prop.KEY.

    properties is a JSON object; each prop.KEY column adds one property. Without an id column each row
    gets an id derived from its cells, so importing the same file again reports duplicates.
    """
    source = _open(file)
    with _database(db) as database, _progress(source, "Importing events") as advance:
        result = import_events(database, source, rejects_path=rejects, progress=advance)
    summary = (
        f"Imported {result.imported} events, duplicates {result.duplicates}, rejected {result.rejected}"
    )
    _finish(summary, result.rejected, result.rejects_path or _target(file, rejects), result.first_rejects,
            "events already imported count as duplicates, not second rows")


def _open(file: Path) -> CsvFile:
    try:
        return open_csv(file)
    except HeraldError as exc:
        raise fail(str(exc)) from None


@contextmanager
def _database(url: str | None) -> Iterator[Database]:
    """The workspace, with every failure after the file was read turned into a message, not a traceback."""
    try:
        database = open_database(resolve_db_url(url))
    except HeraldError as exc:
        raise fail(str(exc)) from None
    try:
        yield database
    except HeraldError as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise fail(
            f"the database refused the import: {reason}. Chunks written before this stay imported; "
            "importing the same file again is safe once the problem is fixed."
        ) from None
    finally:
        database.dispose()


@contextmanager
def _progress(source: CsvFile, description: str) -> Iterator[Callable[[int], None] | None]:
    """A progress callback drawing a bar for large files, or None for small ones."""
    if source.data_lines < PROGRESS_MIN_LINES:
        yield None
        return
    with progress_bar() as bar:
        task = bar.add_task(description, total=source.data_lines)

        def advance(rows: int) -> None:
            bar.advance(task, rows)

        yield advance
        # Values spanning several lines make the line count an overestimate; end the bar at 100 %.
        bar.update(task, completed=source.data_lines)


def _target(file: Path, rejects: Path | None) -> Path:
    return rejects or default_rejects_path(file)


def _finish(
    summary: str, rejected: int, rejects_path: Path, first_rejects: tuple[tuple[int, str], ...], again: str
) -> None:
    if not rejected:
        out.print(summary + ".", highlight=False, markup=False, soft_wrap=True)
        return
    out.print(f"{summary} → {rejects_path}", highlight=False, markup=False, soft_wrap=True)
    for line, reason in first_rejects:
        err.print(f"  line {line}: {reason}", highlight=False, markup=False, soft_wrap=True)
    if rejected > len(first_rejects):
        err.print(f"  … and {rejected - len(first_rejects)} more in {rejects_path}",
                  highlight=False, markup=False, soft_wrap=True)
    err.print(
        f"The file was read and its good rows imported; {rejected} row{'s' if rejected != 1 else ''} "
        f"went to {rejects_path} with line and reason. Fix them in the original file and import it "
        f"again: {again}.",
        highlight=False, markup=False, soft_wrap=True,
    )
