"""The relay's housekeeping (sweeper, outbox and idempotency retention) on
MariaDB: the scenario of tests/unit/test_housekeeping.py on a real server."""

from __future__ import annotations

from tests.support import services
from tests.unit.test_housekeeping import run_housekeeping


def test_the_relay_sweeps_and_purges_on_mariadb(mysql_url: str) -> None:
    database = services.scratch_database(mysql_url)
    try:
        run_housekeeping(database.url)
    finally:
        database.stop()
