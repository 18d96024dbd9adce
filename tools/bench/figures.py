"""A bench figure beside its baseline, and how a run reports them: a markdown
table for people and a JSON list for tools."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    """`ratio` is always value / baseline: above 1 is better for a rate
    (orders/s, requests/s), below 1 is better for a latency (ms)."""

    name: str
    value: float
    unit: str
    baseline: float | None
    baseline_is: str
    what: str

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "unit": self.unit,
            "baseline": None if self.baseline is None else round(self.baseline, 3),
            "ratio": None if ratio is None else round(ratio, 3),
        }


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def markdown_table(figures: Sequence[Figure]) -> str:
    lines = [
        "| figure | what | value | unit | baseline | ratio | baseline is |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for f in figures:
        ratio = f.ratio
        lines.append(
            f"| {f.name} | {f.what} | {_number(f.value)} | {f.unit} | {_number(f.baseline)} "
            f"| {'-' if ratio is None else f'{ratio:.2f}x'} | {f.baseline_is} |"
        )
    return "\n".join(lines)


def write_json(figures: Sequence[Figure], path: Path) -> None:
    path.write_text(json.dumps([f.to_dict() for f in figures], indent=2) + "\n")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
