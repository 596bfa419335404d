"""Opening a CSV file robustly: encoding, delimiter, header row, and rows that do not fit.

A file is checked once up front (it exists, is UTF-8 text with or without a BOM, is not binary, has a
header row) so that a file Herald cannot read fails before anything is written. Rows are then streamed;
a row with the wrong number of fields is handed out with an ``error`` instead of values, so importers turn
it into a reject with its physical line number rather than crashing.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ImportFileError

#: Delimiters Herald recognises, in order of preference when the evidence is equal.
DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 20
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_ROWS = 50
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One record of the file.

    ``line`` is the physical line the record starts on (1 is the header). ``fields`` are the cells as
    written; ``values`` maps each header name to its cell with surrounding blanks removed, and is empty when
    ``error`` says why the row does not fit the header.
    """

    line: int
    fields: tuple[str, ...]
    values: dict[str, str]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A readable CSV file: where it is, how it is delimited, its column names and roughly how long it is."""

    path: Path
    delimiter: str
    header: tuple[str, ...]
    #: Physical lines after the header: the number of rows when no value spans several lines.
    data_lines: int

    @property
    def delimiter_name(self) -> str:
        """``comma``, ``semicolon`` or ``tab``."""
        return _DELIMITER_NAMES[self.delimiter]

    def require_columns(self, *names: str) -> None:
        """Raise ImportFileError naming every required column the header lacks."""
        missing = [n for n in names if n not in self.header]
        if missing:
            found = ", ".join(self.header) or "nothing"
            raise ImportFileError(
                f"{self.path}: the header (line 1) has no {', '.join(missing)} column "
                f"(found: {found}). The first row must name the columns; add "
                f"{'them' if len(missing) > 1 else 'it'} and import again."
            )

    def rows(self) -> Iterator[CsvRow]:
        """Every data row in file order; blank lines are skipped."""
        width = len(self.header)
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            header_seen = False
            while True:
                start = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise ImportFileError(
                        f"{self.path}, line {start}: {exc}. Check the quoting of that line."
                    ) from None
                if _is_blank(fields):
                    continue
                if not header_seen:
                    header_seen = True
                    continue
                yield _fit(start, tuple(fields), self.header, width)


def _fit(line: int, fields: tuple[str, ...], header: tuple[str, ...], width: int) -> CsvRow:
    """The row's values by column, or an error when its field count does not match the header."""
    count = len(fields)
    # Spreadsheets often pad rows with empty trailing cells; they carry nothing, so they are tolerated.
    if count > width and not any(f.strip() for f in fields[width:]):
        count = width
    if count != width:
        hint = (
            "a delimiter is missing or the row ends early"
            if count < width
            else "a value contains the delimiter without quotes around it"
        )
        return CsvRow(
            line, fields, {},
            f"line has {len(fields)} fields but the header has {width}; {hint}",
        )
    return CsvRow(line, fields, {name: fields[i].strip() for i, name in enumerate(header)})


def _is_blank(fields: list[str]) -> bool:
    return not any(f.strip() for f in fields)


def open_csv(path: Path | str) -> CsvFile:
    """Check that ``path`` is a readable CSV file with a header row and describe it.

    Raises ImportFileError saying what is wrong and what to do when the file is missing, unreadable,
    empty, binary, not UTF-8, or its header is unusable.
    """
    path = Path(path)
    sample, lines = _scan(path)
    delimiter = _sniff(sample)
    header = _read_header(path, sample, delimiter)
    return CsvFile(path=path, delimiter=delimiter, header=header, data_lines=max(lines - 1, 0))


def _scan(path: Path) -> tuple[str, int]:
    """Decode the whole file once: the first characters for sniffing, and the number of lines."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file. Check the path and try again.") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path} is a folder, not a CSV file. Name the file itself.") from None
    except OSError as exc:
        raise ImportFileError(
            f"{path} cannot be opened: {exc.strerror}. Check that you may read it."
        ) from None
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    sample: list[str] = []
    sampled = 0
    newlines = 0
    last = ""
    with handle:
        first = True
        while True:
            try:
                chunk = handle.read(_CHUNK)
            except OSError as exc:
                raise ImportFileError(f"{path} cannot be read: {exc.strerror}.") from None
            if first:
                _reject_binary_start(path, chunk)
                first = False
            final = not chunk
            if b"\x00" in chunk:
                line = newlines + chunk[: chunk.index(b"\x00")].count(b"\n") + 1
                raise ImportFileError(
                    f"{path}, line {line}: contains NUL bytes, so it is a binary file, not CSV text. "
                    "Export it from the spreadsheet as 'CSV UTF-8' and import that file."
                )
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                line = newlines + bytes(exc.object[: exc.start]).count(b"\n") + 1
                raise ImportFileError(
                    f"{path}, line {line}: byte 0x{exc.object[exc.start]:02x} is not UTF-8. "
                    "Save the file with UTF-8 encoding (in Excel: 'CSV UTF-8') and import it again."
                ) from None
            newlines += text.count("\n")
            if text:
                last = text[-1]
            if sampled < _SAMPLE_CHARS and text:
                sample.append(text[: _SAMPLE_CHARS - sampled])
                sampled += len(sample[-1])
            if final:
                break
    joined = "".join(sample)
    if not joined.strip():
        raise ImportFileError(
            f"{path} is empty. A CSV import needs a header row naming the columns, then one row per record."
        )
    lines = newlines + (1 if last and last != "\n" else 0)
    return joined, lines


def _reject_binary_start(path: Path, chunk: bytes) -> None:
    if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            f"{path} is UTF-16 text. Save it as UTF-8 (in Excel: 'CSV UTF-8') and import it again."
        )
    if chunk.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            f"{path} is a zip archive (an .xlsx workbook?), not CSV text. "
            "Export the sheet as 'CSV UTF-8' and import that file."
        )


def _sample_rows(sample: str, delimiter: str) -> list[list[str]]:
    """The first complete rows of the sample, split with ``delimiter``."""
    cut = sample.rfind("\n")
    text = sample[: cut + 1] if cut > 0 else sample
    rows: list[list[str]] = []
    try:
        for fields in csv.reader(io.StringIO(text), delimiter=delimiter):
            if not _is_blank(fields):
                rows.append(fields)
            if len(rows) >= _SAMPLE_ROWS:
                break
    except csv.Error:
        return rows
    return rows


def _sniff(sample: str) -> str:
    """The delimiter that splits the sample into the most columns, consistently from row to row."""
    best = DELIMITERS[0]
    best_score: tuple[int, float, int] = (0, 0.0, 0)
    for delimiter in DELIMITERS:
        rows = _sample_rows(sample, delimiter)
        if not rows:
            continue
        width = len(rows[0])
        body = rows[1:]
        consistent = sum(1 for r in body if len(r) == width) / len(body) if body else 1.0
        score = (int(width > 1), consistent, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_header(path: Path, sample: str, delimiter: str) -> tuple[str, ...]:
    rows = _sample_rows(sample, delimiter)
    if not rows:
        raise ImportFileError(f"{path}: the first line cannot be read as a CSV header. Check its quoting.")
    names = tuple(name.strip() for name in rows[0])
    _check_names(path, names)
    return names


def _check_names(path: Path, names: Iterable[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise ImportFileError(
                f"{path}, line 1, column {position}: the header cell is empty. "
                "Give every column a name in the first row."
            )
        if name in seen:
            raise ImportFileError(
                f"{path}, line 1: column {name!r} appears twice (columns {seen[name]} and {position}). "
                "Rename or remove one of them."
            )
        seen[name] = position


# Cell values shared by the importers. Text is already stripped of surrounding blanks.

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]|$)")
#: JSON numbers beyond this lose precision in JavaScript and in orjson; larger integers are kept as floats.
_SAFE_INTEGER = 2**53
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


def parse_number(text: str) -> int | float | None:
    """An int or finite float written in plain decimal or exponent notation, else None."""
    if not _NUMBER.match(text):
        return None
    if _INTEGER.match(text):
        value = int(text)
        return value if abs(value) < _SAFE_INTEGER else float(value)
    number = float(text)
    return number if math.isfinite(number) else None


def looks_like_number(text: str) -> bool:
    """Whether a value reads as a quantity: a number without a leading zero (``02134`` is a code)."""
    if parse_number(text) is None:
        return False
    digits = text.lstrip("+-")
    return not (len(digits) > 1 and digits[0] == "0" and digits[1].isdigit())


def parse_boolean(text: str) -> bool | None:
    """true/false, yes/no, 1/0 (any case), else None."""
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return None


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 date or date-time as aware UTC, else None.

    A date means midnight UTC; a date-time without a zone is taken as UTC, as exports from databases
    usually are.
    """
    if not _ISO_DATE_START.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
