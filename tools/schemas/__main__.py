"""`python -m tools.schemas`: regenerate docs/events/*.json and docs/EVENTS.md's tables."""

from __future__ import annotations

from tools.schemas import ROOT, write

if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
