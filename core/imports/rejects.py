"""The rejects file: every row an import could not take, with its line number and the reason.

Columns are ``line``, ``reason``, then the original columns with the cells exactly as they were, written
with the input's delimiter so the file opens the same way the input did. The file is created only when
there is something to reject; a stale one from an earlier run at the same path is emptied to its header
so it never describes rows that have since been imported.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from core.errors import ImportFileError


def default_rejects_path(source: Path) -> Path:
    """``users.csv`` → ``users.rejects.csv`` in the same folder."""
    return source.with_name(f"{source.stem}.rejects.csv")


class RejectsWriter:
    """Collects rejected rows into a CSV file, opened on the first reject; use it as a context manager."""

    def __init__(self, path: Path, header: Sequence[str], delimiter: str = ",", *,
                 source: Path | None = None) -> None:
        if source is not None and path.resolve() == source.resolve():
            raise ImportFileError(
                f"{path} is the file being imported; choose another path for the rejects (--rejects)."
            )
        if not path.parent.is_dir():
            raise ImportFileError(
                f"cannot write the rejects file {path}: the folder {path.parent} does not exist. "
                "Create it or choose another path with --rejects."
            )
        self.path = path
        self.count = 0
        self._header = ["line", "reason", *header]
        self._delimiter = delimiter
        self._handle: IO[str] | None = None
        self._writer: Any = None

    def add(self, line: int, reason: str, fields: Sequence[str]) -> None:
        """Record one rejected row: its physical line, why, and its cells as read."""
        if self._writer is None:
            self._open()
        self._writer.writerow([line, reason, *fields])
        self.count += 1

    def close(self) -> Path | None:
        """Finish the file; the path when rows were rejected, else None."""
        if self._handle is None and self.path.exists():
            self._open()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None
        return self.path if self.count else None

    def _open(self) -> None:
        try:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise ImportFileError(
                f"cannot write the rejects file {self.path}: {exc.strerror}. "
                "Choose a writable path with --rejects."
            ) from None
        self._writer = csv.writer(self._handle, delimiter=self._delimiter)
        self._writer.writerow(self._header)

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
