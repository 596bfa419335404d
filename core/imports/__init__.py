"""Importing users and events from CSV files.

``csv_reader`` opens a file robustly (encoding, delimiter, header, malformed rows), ``users`` and ``events``
turn rows into workspace data, ``rejects`` writes the rows that could not be imported beside the input, and
``cli`` mounts ``herald import users|events`` on the command line.
"""

from core.imports.csv_reader import CsvFile, CsvRow, open_csv
from core.imports.events import EventImportResult, import_events
from core.imports.users import UserImportResult, import_users

__all__ = [
    "CsvFile",
    "CsvRow",
    "EventImportResult",
    "UserImportResult",
    "import_events",
    "import_users",
    "open_csv",
]
