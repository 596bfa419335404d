"""Where Herald keeps its workspace, and how a user picks another one."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

#: Environment variable naming the workspace database URL (same as ``--db``).
DB_ENV = "HERALD_DB"
#: Environment variable carrying the SDK key (same as ``--sdk-key``).
SDK_KEY_ENV = "HERALD_SDK_KEY"


def data_dir() -> Path:
    """The per-user folder for Herald's files (the embedded workspace, simulator state)."""
    override = os.environ.get("HERALD_HOME")
    path = Path(override) if override else user_data_path("herald", appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def simulator_state_dir() -> Path:
    """Where the bundled simulator keeps its fleet, credentials and ports by default."""
    return data_dir() / "simulator"


def default_db_url() -> str:
    """The embedded workspace: SQLite in the user data folder."""
    return f"sqlite:///{data_dir() / 'workspace.db'}"


def resolve_db_url(explicit: str | None = None) -> str:
    """``--db`` wins, then ``HERALD_DB``, then the embedded SQLite workspace."""
    return explicit or os.environ.get(DB_ENV) or default_db_url()
