"""`python -m tools.bench [--quick | --scale tiny] [--only PHASE] [--json FILE]`
from the repository root (what `make bench` runs)."""

from __future__ import annotations

from tools.bench.command import bench

if __name__ == "__main__":
    bench(prog_name="python -m tools.bench")
