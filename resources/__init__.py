"""Data files of the console: SVG icons, styles, device frames and demo scenarios (no code)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """The path of a bundled resource file."""
    return ROOT.joinpath(*parts)
