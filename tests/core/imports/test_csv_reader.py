"""Opening CSV files: encodings, delimiters, headers, malformed rows and files that cannot be read."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from core.errors import ImportFileError
from core.imports.csv_reader import looks_like_number, open_csv, parse_boolean, parse_instant, parse_number


def write(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def test_comma_file_gives_stripped_values_and_physical_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "external_id, plan\nu1, pro \n\nu2,free\n")
    csv_file = open_csv(path)
    assert csv_file.delimiter == ","
    assert csv_file.header == ("external_id", "plan")
    rows = list(csv_file.rows())
    assert [(r.line, r.values) for r in rows] == [
        (2, {"external_id": "u1", "plan": "pro"}),
        (4, {"external_id": "u2", "plan": "free"}),
    ]
    assert rows[0].fields == ("u1", " pro ")


def test_utf8_bom_and_semicolons_are_recognised(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + "external_id;city\r\nu1;İstanbul\r\n".encode())
    csv_file = open_csv(path)
    assert csv_file.delimiter == ";"
    assert csv_file.header == ("external_id", "city")
    assert [r.values for r in csv_file.rows()] == [{"external_id": "u1", "city": "İstanbul"}]


def test_tab_separated_file_with_commas_inside_values(tmp_path: Path) -> None:
    path = write(tmp_path, "external_id\tnote\nu1\ta, b, c\nu2\td, e\n")
    csv_file = open_csv(path)
    assert csv_file.delimiter == "\t"
    assert [r.values["note"] for r in csv_file.rows()] == ["a, b, c", "d, e"]


def test_quoted_value_over_several_lines_keeps_later_line_numbers_physical(tmp_path: Path) -> None:
    path = write(tmp_path, 'external_id,note\nu1,"first\nsecond"\nu2,x,extra\n')
    rows = list(open_csv(path).rows())
    assert rows[0].line == 2 and rows[0].values["note"] == "first\nsecond"
    assert rows[1].line == 4
    assert rows[1].error is not None and "3 fields but the header has 2" in rows[1].error


def test_wrong_field_counts_become_row_errors_not_crashes(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,c\n1,2\n1,2,3,4\n1,2,3,,\n")
    rows = list(open_csv(path).rows())
    assert rows[0].error is not None and "2 fields" in rows[0].error and rows[0].values == {}
    assert rows[1].error is not None and "without quotes" in rows[1].error
    # Empty trailing cells, as spreadsheets write them, carry nothing and are accepted.
    assert rows[2].error is None and rows[2].values == {"a": "1", "b": "2", "c": "3"}


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    csv_file = open_csv(write(tmp_path, "external_id,plan"))
    assert csv_file.data_lines == 0
    assert list(csv_file.rows()) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"\n \n", "is empty"),
        (b"a,b\n1,\x002\n", "line 2: contains NUL bytes"),
        (b"PK\x03\x04\x14\x00rest", "zip archive"),
        (codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"), "UTF-16"),
        (b"a,b\n1,2\n3,caf\xe9\n", "line 3: byte 0xe9 is not UTF-8"),
        (b"a,,c\n1,2,3\n", "column 2: the header cell is empty"),
        (b"a,b,a\n1,2,3\n", "'a' appears twice"),
    ],
)
def test_unreadable_files_raise_with_what_and_what_to_do(tmp_path: Path, content: bytes, expected: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ImportFileError) as info:
        open_csv(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_and_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        open_csv(tmp_path / "nope.csv")
    with pytest.raises(ImportFileError, match="is a folder"):
        open_csv(tmp_path)


def test_require_columns_names_what_is_missing_and_what_was_found(tmp_path: Path) -> None:
    csv_file = open_csv(write(tmp_path, "id,plan\n1,pro\n"))
    with pytest.raises(ImportFileError) as info:
        csv_file.require_columns("external_id")
    message = str(info.value)
    assert "no external_id column" in message and "found: id, plan" in message


def test_cell_value_parsers() -> None:
    assert parse_number("42") == 42 and isinstance(parse_number("42"), int)
    assert parse_number("-3.5e2") == -350.0
    assert parse_number("1_000") is None and parse_number("nan") is None and parse_number("") is None
    assert looks_like_number("0.5") and looks_like_number("0")
    assert not looks_like_number("02134")
    assert parse_boolean("YES") is True and parse_boolean("0") is False and parse_boolean("maybe") is None
    instant = parse_instant("2026-01-31T09:30:00+03:00")
    assert instant is not None and instant.isoformat() == "2026-01-31T06:30:00+00:00"
    naive = parse_instant("2026-01-31 09:30")
    assert naive is not None and naive.isoformat() == "2026-01-31T09:30:00+00:00"
    assert parse_instant("20260131") is None and parse_instant("2026-02-30") is None
