"""Importing users from a CSV file.

One row per user, keyed by the required ``external_id`` column. Reserved columns fill the user's own
fields: ``locale``, ``timezone`` (IANA), ``marketing_consent`` (true/false, yes/no, 1/0; records the import
time and ``csv import`` as the consent's time and source when it changes), ``latitude`` and ``longitude``
(together; record the import time as the location's time), ``first_seen`` and ``last_seen`` (ISO 8601;
they only ever widen the known range). Every other column is a typed attribute: ``plan:string``,
``age:number``, ``vip:boolean``, ``signed_up:datetime``, or a bare name whose type is inferred from the
column's non-empty values. An attribute the workspace already knows keeps its type; a value that cannot
be read as that type rejects its row.

Existing users are updated (attributes merged; an empty cell leaves the stored value alone) and new ones
inserted, a chunk of rows per transaction with bulk statements. Date-times without a zone are taken as
UTC; datetime attributes are stored as ISO 8601 UTC strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import RowMapping, Table, bindparam, select, update
from sqlalchemy.orm import Session

from core.clock import Clock, SystemClock
from core.domain.enums import AttributeType
from core.errors import ImportFileError
from core.imports.csv_reader import (
    CsvFile,
    CsvRow,
    looks_like_number,
    open_csv,
    parse_boolean,
    parse_instant,
    parse_number,
)
from core.imports.rejects import RejectsWriter, default_rejects_path
from core.persistence import Database
from core.persistence.models import AttributeDefinition, User
from core.persistence.upsert import insert_ignoring_conflicts

RESERVED_COLUMNS = (
    "external_id", "locale", "timezone", "marketing_consent", "latitude", "longitude", "first_seen",
    "last_seen",
)
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
CONSENT_SOURCE = "csv import"
DEFAULT_CHUNK_ROWS = 1000
MAX_EXTERNAL_ID = 128
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_FIRST_REJECTS_KEPT = 5
_USERS = cast(Table, User.__table__)
_DEFINITIONS = cast(Table, AttributeDefinition.__table__)
_TYPE_HINTS = {
    AttributeType.NUMBER: "write it like 42 or 3.5",
    AttributeType.BOOLEAN: "use true/false, yes/no or 1/0",
    AttributeType.DATETIME: "use ISO 8601 such as 2026-01-31 or 2026-01-31T09:30:00Z",
    AttributeType.STRING: "",
}

#: Called with how many more rows have been handled since the last call.
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class UserImportResult:
    """What a users import did: rows read, users created and updated, rows rejected and where they went."""

    rows: int
    imported: int
    updated: int
    rejected: int
    rejects_path: Path | None
    attribute_types: dict[str, AttributeType] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: The first few rejects as (line, reason), to show without opening the rejects file.
    first_rejects: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _AttributeColumn:
    header: str
    name: str
    declared: AttributeType | None


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which header cell feeds which user field or attribute."""

    reserved: dict[str, str]
    attributes: tuple[_AttributeColumn, ...]


@dataclass(slots=True)
class _UserRow:
    external_id: str
    attributes: dict[str, Any]
    fields: dict[str, Any]
    occurrences: int = 1


def import_users(
    db: Database,
    source: CsvFile | Path | str,
    *,
    rejects_path: Path | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> UserImportResult:
    """Import the users CSV ``source`` into ``db``; raises ImportFileError when the file is unusable."""
    csv_file = source if isinstance(source, CsvFile) else open_csv(source)
    return UserImporter(db, clock, chunk_rows).run(csv_file, rejects_path, progress)


class UserImporter:
    """Reads a users CSV into the workspace, a chunk of rows per transaction."""

    def __init__(self, db: Database, clock: Clock | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._chunk_rows = chunk_rows

    def run(
        self, source: CsvFile, rejects_path: Path | None = None, progress: Progress | None = None
    ) -> UserImportResult:
        """Import every row of ``source``; bad rows go to the rejects file."""
        layout = _layout(source)
        rejects = RejectsWriter(
            rejects_path or default_rejects_path(source.path), source.header, source.delimiter,
            source=source.path,
        )
        types, warnings = self._resolve_types(source, layout)
        columns = [c for c in layout.attributes if c.name in types]
        now = self._clock.now()
        rows = imported = updated = reported = 0
        first_rejects: list[tuple[int, str]] = []
        chunk: dict[str, _UserRow] = {}
        pending = 0
        with rejects:
            for row in source.rows():
                rows += 1
                pending += 1
                parsed = row.error or _parse_row(row, layout, columns, types)
                if isinstance(parsed, str):
                    rejects.add(row.line, parsed, row.fields)
                    if len(first_rejects) < _FIRST_REJECTS_KEPT:
                        first_rejects.append((row.line, parsed))
                else:
                    _merge_into(chunk, parsed)
                if pending >= self._chunk_rows:
                    new, old = self._write_chunk(chunk, layout, bool(columns), now)
                    imported, updated = imported + new, updated + old
                    chunk, pending = {}, 0
                    if progress is not None:
                        progress(rows - reported)
                        reported = rows
            if chunk:
                new, old = self._write_chunk(chunk, layout, bool(columns), now)
                imported, updated = imported + new, updated + old
            if progress is not None and rows > reported:
                progress(rows - reported)
        return UserImportResult(
            rows=rows, imported=imported, updated=updated, rejected=rejects.count,
            rejects_path=rejects.path if rejects.count else None, attribute_types=types,
            warnings=tuple(warnings), first_rejects=tuple(first_rejects),
        )

    def _resolve_types(
        self, source: CsvFile, layout: _Layout
    ) -> tuple[dict[str, AttributeType], list[str]]:
        """Each attribute column's type: the workspace's, else the header's, else inferred from the file."""
        names = [c.name for c in layout.attributes]
        if not names:
            return {}, []
        known = self._known_types(names)
        undecided = [c for c in layout.attributes if c.name not in known and c.declared is None]
        inferred = _infer_types(source, undecided)
        warnings: list[str] = []
        chosen: dict[str, AttributeType] = {}
        for column in layout.attributes:
            if column.name in known:
                chosen[column.name] = known[column.name]
                if column.declared is not None and column.declared is not known[column.name]:
                    warnings.append(
                        f"column {column.header!r}: attribute {column.name!r} is already a "
                        f"{known[column.name]} in this workspace, so its values are read as "
                        f"{known[column.name]}, not {column.declared}"
                    )
            elif column.declared is not None:
                chosen[column.name] = column.declared
            elif (kind := inferred.get(column.name)) is not None:
                chosen[column.name] = kind
            else:
                warnings.append(f"column {column.header!r} has no values; it was skipped")
        new = {n: t for n, t in chosen.items() if n not in known}
        if new:
            now = self._clock.now()
            with self._db.transaction() as session:
                session.execute(
                    insert_ignoring_conflicts(session, _DEFINITIONS, ["name"]),
                    [{"name": n, "type": t.value, "created_at": now} for n, t in new.items()],
                )
            # Another writer may have defined one of them first; its type is the one that holds.
            chosen.update(self._known_types(list(new)))
        return chosen, warnings

    def _known_types(self, names: list[str]) -> dict[str, AttributeType]:
        with self._db.transaction() as session:
            rows = session.execute(
                select(AttributeDefinition.name, AttributeDefinition.type)
                .where(AttributeDefinition.name.in_(names))
            ).all()
        return {name: _attribute_type(kind) for name, kind in rows}

    def _write_chunk(
        self, chunk: dict[str, _UserRow], layout: _Layout, has_attributes: bool, now: datetime
    ) -> tuple[int, int]:
        """Insert the new users and update the existing ones; (created, updated) row counts."""
        if not chunk:
            return 0, 0
        table = _USERS
        c = table.c
        touched = _touched_columns(layout, has_attributes)
        selected = [c.id, c.external_id, *(c[name] for name in touched)]
        with self._db.transaction() as session:
            existing = _existing(session, selected, list(chunk))
            new_ids = [eid for eid in chunk if eid not in existing]
            created = 0
            if new_ids:
                stmt = insert_ignoring_conflicts(session, table, ["external_id"]).returning(c.external_id)
                inserted = set(session.scalars(stmt, [_new_user(chunk[e], now) for e in new_ids]).all())
                created = len(inserted)
                # Users another writer created meanwhile are merged like any existing user.
                raced = [e for e in new_ids if e not in inserted]
                if raced:
                    existing.update(_existing(session, selected, raced))
            changes = [
                change
                for eid, old in existing.items()
                if (change := _changes(old, chunk[eid], touched, now)) is not None
            ]
            if changes:
                stmt = (
                    update(table)
                    .where(c.id == bindparam("b_id"))
                    .values({name: bindparam(f"v_{name}") for name in touched})
                    .execution_options(synchronize_session=False)
                )
                session.execute(stmt, changes)
        total = sum(r.occurrences for r in chunk.values())
        return created, total - created


def _existing(session: Session, selected: list[Any], ids: list[str]) -> dict[str, RowMapping]:
    rows = session.execute(select(*selected).where(_USERS.c.external_id.in_(ids))).mappings()
    return {row["external_id"]: row for row in rows}


def _touched_columns(layout: _Layout, has_attributes: bool) -> list[str]:
    """The user columns this file can change, so an update never overwrites what it does not carry."""
    touched = ["attributes"] if has_attributes else []
    reserved = layout.reserved
    touched += [name for name in ("locale", "timezone") if name in reserved]
    if "marketing_consent" in reserved:
        touched += ["marketing_consent", "consent_at", "consent_source"]
    if "latitude" in reserved:
        touched += ["latitude", "longitude", "location_at"]
    touched += [name for name in ("first_seen", "last_seen") if name in reserved]
    return touched


def _new_user(row: _UserRow, now: datetime) -> dict[str, Any]:
    f = row.fields
    consent = f.get("marketing_consent")
    located = "latitude" in f
    return {
        "external_id": row.external_id,
        "attributes": row.attributes,
        "locale": f.get("locale"),
        "timezone": f.get("timezone"),
        "latitude": f.get("latitude"),
        "longitude": f.get("longitude"),
        "location_at": now if located else None,
        "marketing_consent": True if consent is None else consent,
        "consent_at": None if consent is None else now,
        "consent_source": None if consent is None else CONSENT_SOURCE,
        "first_seen": f.get("first_seen") or f.get("last_seen") or now,
        "last_seen": f.get("last_seen") or f.get("first_seen") or now,
    }


def _changes(old: RowMapping, row: _UserRow, touched: list[str], now: datetime) -> dict[str, Any] | None:
    """The update parameters for one existing user, or None when the file changes nothing about them."""
    values = {name: old[name] for name in touched}
    f = row.fields
    if "attributes" in values:
        values["attributes"] = {**(old["attributes"] or {}), **row.attributes}
    for name in ("locale", "timezone"):
        if name in f:
            values[name] = f[name]
    consent = f.get("marketing_consent")
    if consent is not None and (consent != old["marketing_consent"] or old["consent_at"] is None):
        values.update(marketing_consent=consent, consent_at=now, consent_source=CONSENT_SOURCE)
    if "latitude" in f and (
        (f["latitude"], f["longitude"]) != (old["latitude"], old["longitude"]) or old["location_at"] is None
    ):
        values.update(latitude=f["latitude"], longitude=f["longitude"], location_at=now)
    if "first_seen" in f and "first_seen" in values:
        values["first_seen"] = min(old["first_seen"], f["first_seen"])
    if "last_seen" in f and "last_seen" in values:
        values["last_seen"] = max(old["last_seen"], f["last_seen"])
    if all(values[name] == old[name] for name in touched):
        return None
    return {"b_id": old["id"], **{f"v_{name}": value for name, value in values.items()}}


def _merge_into(chunk: dict[str, _UserRow], row: _UserRow) -> None:
    """Fold a later row for the same user into the earlier one: later values win, seen times widen."""
    earlier = chunk.get(row.external_id)
    if earlier is None:
        chunk[row.external_id] = row
        return
    earlier.occurrences += 1
    earlier.attributes.update(row.attributes)
    for name, value in row.fields.items():
        if name == "first_seen" and name in earlier.fields:
            value = min(value, earlier.fields[name])
        elif name == "last_seen" and name in earlier.fields:
            value = max(value, earlier.fields[name])
        earlier.fields[name] = value


def _layout(source: CsvFile) -> _Layout:
    """Map the header to reserved fields and typed attributes; ImportFileError on an unusable header."""
    reserved: dict[str, str] = {}
    attributes: list[_AttributeColumn] = []
    seen: dict[str, str] = {}
    for position, header in enumerate(source.header, start=1):
        where = f"{source.path}, line 1, column {position} ({header!r})"
        base, colon, type_text = header.partition(":")
        base = base.strip()
        if base.lower() in RESERVED_COLUMNS:
            key = base.lower()
            if colon:
                raise ImportFileError(
                    f"{where}: {key} is a built-in user field and takes no type; write just {key}."
                )
            if key in reserved:
                raise ImportFileError(f"{where}: {key} appears twice in the header; keep one column.")
            reserved[key] = header
            continue
        if not ATTRIBUTE_NAME.match(base):
            raise ImportFileError(
                f"{where}: {base!r} is not a valid attribute name. Use up to 64 letters, digits and "
                "underscores (e.g. first_name); rename the column and import again."
            )
        declared: AttributeType | None = None
        if colon:
            try:
                declared = AttributeType(type_text.strip().lower())
            except ValueError:
                kinds = ", ".join(t.value for t in AttributeType)
                raise ImportFileError(
                    f"{where}: unknown type {type_text.strip()!r}. Write {base}:TYPE with TYPE one of {kinds}, "
                    f"or just {base} to infer it."
                ) from None
        if base in seen:
            raise ImportFileError(
                f"{where}: attribute {base!r} already comes from column {seen[base]!r}; keep one of them."
            )
        seen[base] = header
        attributes.append(_AttributeColumn(header, base, declared))
    if "external_id" not in reserved:
        source.require_columns("external_id")
    if ("latitude" in reserved) != ("longitude" in reserved):
        have, lack = ("latitude", "longitude") if "latitude" in reserved else ("longitude", "latitude")
        raise ImportFileError(
            f"{source.path}: the header has {have} but no {lack}; a location needs both columns."
        )
    return _Layout(reserved, tuple(attributes))


def _infer_types(source: CsvFile, columns: list[_AttributeColumn]) -> dict[str, AttributeType | None]:
    """Each column's type from all its non-empty values; None for a column with no values at all."""
    if not columns:
        return {}
    # Per column: [seen a value, all numbers, all booleans, all date-times].
    flags = {c.header: [False, True, True, True] for c in columns}
    open_headers = set(flags)
    for row in source.rows():
        if row.error:
            continue
        for header in list(open_headers):
            value = row.values[header]
            if not value:
                continue
            f = flags[header]
            f[0] = True
            if f[1] and not looks_like_number(value):
                f[1] = False
            if f[2] and parse_boolean(value) is None:
                f[2] = False
            if f[3] and parse_instant(value) is None:
                f[3] = False
            if not (f[1] or f[2] or f[3]):
                open_headers.discard(header)
        if not open_headers:
            break
    inferred: dict[str, AttributeType | None] = {}
    for column in columns:
        seen, number, boolean, when = flags[column.header]
        if not seen:
            inferred[column.name] = None
        elif number:
            inferred[column.name] = AttributeType.NUMBER
        elif boolean:
            inferred[column.name] = AttributeType.BOOLEAN
        elif when:
            inferred[column.name] = AttributeType.DATETIME
        else:
            inferred[column.name] = AttributeType.STRING
    return inferred


def _attribute_type(text: str) -> AttributeType:
    try:
        return AttributeType(text)
    except ValueError:
        return AttributeType.STRING


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _parse_row(
    row: CsvRow, layout: _Layout, columns: list[_AttributeColumn], types: dict[str, AttributeType]
) -> _UserRow | str:
    """The row as a user, or the reasons it cannot be imported (every problem of the row, joined)."""
    values = row.values
    problems: list[str] = []
    reserved = layout.reserved
    external_id = values[reserved["external_id"]]
    if not external_id:
        problems.append("external_id is empty; every row needs the user's id")
    elif len(external_id) > MAX_EXTERNAL_ID:
        problems.append(f"external_id is longer than {MAX_EXTERNAL_ID} characters")
    fields: dict[str, Any] = {}
    _parse_reserved(values, reserved, fields, problems)
    attributes: dict[str, Any] = {}
    for column in columns:
        text = values[column.header]
        if not text:
            continue
        kind = types[column.name]
        value = _coerce(text, kind)
        if value is None:
            hint = _TYPE_HINTS[kind]
            problems.append(
                f"column {column.header!r}: {_shown(text)} is not a {kind} (attribute {column.name!r} "
                f"holds {kind} values); {hint}, or leave the cell empty"
            )
        else:
            attributes[column.name] = value
    if problems:
        return "; ".join(problems)
    return _UserRow(external_id, attributes, fields)


def _coerce(text: str, kind: AttributeType) -> Any:
    if kind is AttributeType.NUMBER:
        return parse_number(text)
    if kind is AttributeType.BOOLEAN:
        return parse_boolean(text)
    if kind is AttributeType.DATETIME:
        instant = parse_instant(text)
        return None if instant is None else instant.isoformat()
    return text


def _parse_reserved(
    values: dict[str, str], reserved: dict[str, str], fields: dict[str, Any], problems: list[str]
) -> None:
    """Read the built-in user fields present in the row into ``fields``; problems go to ``problems``."""

    def cell(name: str) -> str:
        header = reserved.get(name)
        return values[header] if header is not None else ""

    if locale := cell("locale"):
        if len(locale) <= 35 and _LOCALE.match(locale):
            fields["locale"] = locale
        else:
            problems.append(f"locale {_shown(locale)} is not a language tag such as tr-TR or en")
    if zone := cell("timezone"):
        try:
            ZoneInfo(zone)
            fields["timezone"] = zone
        except (ZoneInfoNotFoundError, ValueError, OSError):
            problems.append(f"timezone {_shown(zone)} is not an IANA zone such as Europe/Istanbul")
    if consent_text := cell("marketing_consent"):
        consent = parse_boolean(consent_text)
        if consent is None:
            problems.append(f"marketing_consent {_shown(consent_text)} is not true/false, yes/no or 1/0")
        else:
            fields["marketing_consent"] = consent
    _parse_location(cell("latitude"), cell("longitude"), fields, problems)
    for name in ("first_seen", "last_seen"):
        if text := cell(name):
            instant = parse_instant(text)
            if instant is None:
                problems.append(
                    f"{name} {_shown(text)} is not an ISO 8601 time such as 2026-01-31T09:30:00Z"
                )
            else:
                fields[name] = instant
    if "first_seen" in fields and "last_seen" in fields and fields["first_seen"] > fields["last_seen"]:
        problems.append("first_seen is later than last_seen")


def _parse_location(lat_text: str, lon_text: str, fields: dict[str, Any], problems: list[str]) -> None:
    if not lat_text and not lon_text:
        return
    if not (lat_text and lon_text):
        problems.append("latitude and longitude go together; fill both cells or neither")
        return
    lat, lon = parse_number(lat_text), parse_number(lon_text)
    ok = True
    if lat is None or not -90 <= lat <= 90:
        problems.append(f"latitude {_shown(lat_text)} is not a number from -90 to 90")
        ok = False
    if lon is None or not -180 <= lon <= 180:
        problems.append(f"longitude {_shown(lon_text)} is not a number from -180 to 180")
        ok = False
    if ok:
        fields["latitude"], fields["longitude"] = float(lat or 0), float(lon or 0)
