"""The one output shape of every benchmark: a rich table for people, or one JSON object with ``--json``.

JSON shape (CONVENTIONS.md): ``{"benchmark", "params", "comparisons": [{"name", "unit", "herald",
"baseline", "baseline_name", "ratio"}], "figures": {...}}`` where ``ratio`` is always how many times better
Herald is (for rates herald ÷ baseline, for times baseline ÷ herald).
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Comparison:
    """Herald against its named baseline on one measure."""

    name: str
    unit: str
    herald: float
    baseline: float
    baseline_name: str
    higher_is_better: bool = True

    @property
    def ratio(self) -> float:
        """How many times better Herald is."""
        if self.higher_is_better:
            return self.herald / self.baseline if self.baseline else float("inf")
        return self.baseline / self.herald if self.herald else float("inf")


@dataclass
class BenchReport:
    """Everything one benchmark run measured."""

    benchmark: str
    params: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The report in the shared JSON shape."""
        comparisons = []
        for c in self.comparisons:
            item = asdict(c)
            item.pop("higher_is_better")
            item["ratio"] = round(c.ratio, 2)
            comparisons.append(item)
        return {"benchmark": self.benchmark, "params": self.params, "comparisons": comparisons,
                "figures": self.figures}

    def emit(self, as_json: bool) -> None:
        """Print JSON to stdout, or a table for people."""
        if as_json:
            sys.stdout.write(json.dumps(self.as_json()) + "\n")
            return
        console = Console()
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        table = Table(title=f"{self.benchmark} ({params}; Python {platform.python_version()})")
        for column in ("measure", "Herald", "baseline", "ratio", "baseline is"):
            table.add_column(column, justify="right" if column in ("Herald", "baseline", "ratio") else "left")
        for c in self.comparisons:
            table.add_row(c.name, f"{c.herald:,.0f} {c.unit}", f"{c.baseline:,.0f} {c.unit}",
                          f"{c.ratio:.1f}×", c.baseline_name)
        console.print(table)
        for key, value in self.figures.items():
            console.print(f"  {key}: {value:,.2f}")
