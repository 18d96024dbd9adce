"""The bench harness at its tiny scale: every phase runs against the real
stack (MariaDB, Kafka, Redis, granian, gunicorn, wrk) and the JSON it writes
has the documented shape with positive figures. The figures themselves mean
little at this size; `make bench` is the measurement."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.support.services import REPO_ROOT

REQUIRED = {
    "intake",
    "intake_loaded",
    "pipeline",
    "read_cached",
    "search",
    "processing",
    "e2e_p99",
    "sqlite_intake_p50",
}


def test_tiny_bench_writes_every_figure_beside_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--scale", "tiny", "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "| intake |" in result.stdout  # the markdown table

    figures = json.loads(out.read_text())
    assert isinstance(figures, list)
    names = [figure["name"] for figure in figures]
    assert set(names) >= REQUIRED, names
    assert len(names) == len(set(names))
    for figure in figures:
        assert set(figure) == {"name", "value", "unit", "baseline", "ratio"}, figure
        for key in ("value", "baseline", "ratio"):
            number = figure[key]
            assert isinstance(number, int | float) and not isinstance(number, bool), figure
            assert math.isfinite(number) and number > 0, figure
        # The ratio is worked out before value and baseline are rounded to
        # three places: it lies within what their rounding allows.
        value, baseline = figure["value"], figure["baseline"]
        low = (value - 5e-4) / (baseline + 5e-4)
        high = (value + 5e-4) / max(baseline - 5e-4, 1e-9)
        assert low - 5e-4 <= figure["ratio"] <= high + 5e-4, figure
        assert isinstance(figure["unit"], str) and figure["unit"]
