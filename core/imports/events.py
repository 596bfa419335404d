"""Importing events from a CSV file through the same ingest path the SDK uses.

Columns: ``user``, ``name`` and ``at`` (ISO 8601; without a zone it is taken as UTC) are required; ``id``,
``revenue`` and ``properties`` (a JSON object) are optional, and ``prop.KEY`` columns add one property each
(a cell reads as an integer, a decimal, true/false, or else text; ``prop.`` columns win over the same key
in ``properties``). Any other column is refused before anything is imported, because renaming it later
would change the ids derived below and import its rows twice.

A row without an ``id`` gets one derived from its cells (and how many identical rows came before it), so
importing the same file again reports duplicates instead of storing events twice. Rows go to
``IngestService.ingest_events`` in batches; its per-event rejections come back as lines of the rejects file.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core.clock import Clock
from core.collector.ingest import IngestService
from core.collector.schemas import MAX_EVENTS_PER_BATCH
from core.errors import ImportFileError
from core.imports.csv_reader import CsvFile, CsvRow, looks_like_number, open_csv, parse_instant, parse_number
from core.imports.rejects import RejectsWriter, default_rejects_path
from core.persistence import Database

REQUIRED_COLUMNS = ("user", "name", "at")
OPTIONAL_COLUMNS = ("id", "revenue", "properties")
PROPERTY_PREFIX = "prop."
DERIVED_ID_PREFIX = "csv-"
_FIRST_REJECTS_KEPT = 5

#: Called with how many more rows have been handled since the last call.
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class EventImportResult:
    """What an events import did: rows read, events stored, repeats recognised, rows rejected."""

    rows: int
    imported: int
    duplicates: int
    rejected: int
    rejects_path: Path | None
    #: The first few rejects as (line, reason), to show without opening the rejects file.
    first_rejects: tuple[tuple[int, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class _Columns:
    """Which header cell holds what."""

    standard: dict[str, str]
    properties: dict[str, str]


def import_events(
    db: Database,
    source: CsvFile | Path | str,
    *,
    rejects_path: Path | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    batch_size: int = MAX_EVENTS_PER_BATCH,
) -> EventImportResult:
    """Import the events CSV ``source`` into ``db``; raises ImportFileError when the file is unusable."""
    csv_file = source if isinstance(source, CsvFile) else open_csv(source)
    return EventImporter(IngestService(db, clock), batch_size).run(csv_file, rejects_path, progress)


class EventImporter:
    """Turns CSV rows into SDK events and feeds them to the ingest service in batches."""

    def __init__(self, ingest: IngestService, batch_size: int = MAX_EVENTS_PER_BATCH) -> None:
        if not 0 < batch_size <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_EVENTS_PER_BATCH}")
        self._ingest = ingest
        self._batch_size = batch_size

    def run(
        self, source: CsvFile, rejects_path: Path | None = None, progress: Progress | None = None
    ) -> EventImportResult:
        """Import every row of ``source``; bad rows go to the rejects file."""
        columns = _columns(source)
        rejects = RejectsWriter(
            rejects_path or default_rejects_path(source.path), source.header, source.delimiter,
            source=source.path,
        )
        rows = imported = duplicates = reported = 0
        first_rejects: list[tuple[int, str]] = []
        seen_content: dict[bytes, int] = {}
        batch: list[dict[str, Any]] = []
        origins: list[CsvRow] = []
        pending = 0

        def reject(row: CsvRow, reason: str) -> None:
            rejects.add(row.line, reason, row.fields)
            if len(first_rejects) < _FIRST_REJECTS_KEPT:
                first_rejects.append((row.line, reason))

        def flush() -> None:
            nonlocal imported, duplicates
            if not batch:
                return
            result = self._ingest.ingest_events(batch)
            imported += result.accepted
            duplicates += result.duplicates
            for rejection in result.rejected:
                reject(origins[rejection.index], rejection.error)
            batch.clear()
            origins.clear()

        with rejects:
            for row in source.rows():
                rows += 1
                pending += 1
                event = row.error or _event(row, columns, seen_content)
                if isinstance(event, str):
                    reject(row, event)
                else:
                    batch.append(event)
                    origins.append(row)
                if len(batch) >= self._batch_size:
                    flush()
                if pending >= self._batch_size:
                    pending = 0
                    if progress is not None:
                        progress(rows - reported)
                        reported = rows
            flush()
            if progress is not None and rows > reported:
                progress(rows - reported)
        # Rejections arrive per batch, so rows rejected by the CSV checks and by ingest interleave.
        first_rejects.sort()
        return EventImportResult(
            rows=rows, imported=imported, duplicates=duplicates, rejected=rejects.count,
            rejects_path=rejects.path if rejects.count else None, first_rejects=tuple(first_rejects),
        )


def _columns(source: CsvFile) -> _Columns:
    """Map the header; ImportFileError for missing required columns or columns Herald does not know."""
    standard: dict[str, str] = {}
    properties: dict[str, str] = {}
    for position, header in enumerate(source.header, start=1):
        key = header.lower()
        if key in REQUIRED_COLUMNS or key in OPTIONAL_COLUMNS:
            if key in standard:
                raise ImportFileError(
                    f"{source.path}, line 1, column {position}: {key} appears twice in the header; keep one."
                )
            standard[key] = header
        elif key.startswith(PROPERTY_PREFIX) and header[len(PROPERTY_PREFIX):].strip():
            prop = header[len(PROPERTY_PREFIX):].strip()
            if prop in properties:
                raise ImportFileError(
                    f"{source.path}, line 1, column {position}: property {prop!r} appears twice; keep one."
                )
            properties[prop] = header
        else:
            known = ", ".join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))
            raise ImportFileError(
                f"{source.path}, line 1, column {position}: Herald does not know the column {header!r}. "
                f"Event columns are {known} and prop.KEY for a property; rename it to prop.{header} "
                "to keep it as a property, or remove it, then import again."
            )
    missing = [c for c in REQUIRED_COLUMNS if c not in standard]
    if missing:
        source.require_columns(*missing)
    return _Columns(standard, properties)


def _event(row: CsvRow, columns: _Columns, seen_content: dict[bytes, int]) -> dict[str, Any] | str:
    """The SDK event for a row, or why the row cannot become one."""
    values = row.values
    std = columns.standard

    def cell(name: str) -> str:
        header = std.get(name)
        return values[header] if header is not None else ""

    problems: list[str] = []
    properties: dict[str, Any] = {}
    if text := cell("properties"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            parsed = exc
        if isinstance(parsed, dict):
            properties.update(parsed)
        else:
            problems.append(
                f"properties is not a JSON object such as {{\"plan\": \"pro\"}}: {_shown(text)}"
            )
    for key, header in columns.properties.items():
        if prop_text := values[header]:
            properties[key] = infer_property(prop_text)
    revenue: float | None = None
    if revenue_text := cell("revenue"):
        number = parse_number(revenue_text)
        if number is None:
            problems.append(f"revenue {_shown(revenue_text)} is not a number such as 19.99")
        else:
            revenue = float(number)
    at = cell("at")
    instant = parse_instant(at)
    if instant is not None:
        at = instant.isoformat()
    if problems:
        return "; ".join(problems)
    event_id = cell("id") or _derived_id(values, std.get("id"), seen_content)
    return {
        "id": event_id,
        "user": cell("user") or None,
        "name": cell("name") or None,
        "at": at or None,
        "properties": properties,
        "revenue": revenue,
    }


def infer_property(text: str) -> Any:
    """A ``prop.`` cell as an int, a float, true/false, or the text itself."""
    if looks_like_number(text):
        number = parse_number(text)
        if number is not None and (isinstance(number, int) or math.isfinite(number)):
            return number
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _derived_id(values: dict[str, str], id_header: str | None, seen_content: dict[bytes, int]) -> str:
    """A stable id from the row's cells; identical rows are told apart by their order of appearance."""
    content = sorted((k, v) for k, v in values.items() if k != id_header)
    digest = hashlib.sha256(orjson.dumps(content)).digest()
    occurrence = seen_content.get(digest, 0)
    seen_content[digest] = occurrence + 1
    if occurrence:
        digest = hashlib.sha256(digest + occurrence.to_bytes(8, "big")).digest()
    return DERIVED_ID_PREFIX + digest.hex()[:40]


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")
