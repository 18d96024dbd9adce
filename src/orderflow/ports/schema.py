"""Where a database's schema stands against what this release needs."""

from __future__ import annotations

from typing import Literal

# current: what this release needs. behind: `orderflow migrate` must run
# first. ahead: a newer release migrated it (migrations only add, so an
# older process still works with it during a rolling upgrade).
SchemaState = Literal["current", "behind", "ahead"]
