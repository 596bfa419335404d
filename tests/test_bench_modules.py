"""Every benchmark module imports and has a ``main``: benchmarks are not run in CI, so this keeps them from rotting."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
RUNNABLE = ("ingest", "simulator", "fanout", "render", "gui_stall")


@pytest.mark.parametrize("name", [m.name for m in pkgutil.iter_modules([str(BENCH)])])
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")


@pytest.mark.parametrize("name", RUNNABLE)
def test_each_benchmark_has_a_main(name: str) -> None:
    assert callable(importlib.import_module(f"bench.{name}").main)
