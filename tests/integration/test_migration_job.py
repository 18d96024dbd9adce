"""Migrations are a job, on the real stores: `orderflow api` on a database
never migrated exits non-zero with one line naming `orderflow migrate` and
creates nothing; two `orderflow migrate` runs at once both succeed (the
database lock: GET_LOCK on MariaDB, pg_advisory_xact_lock on PostgreSQL);
then the schema is current."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pymongo import MongoClient
from sqlalchemy import create_engine, inspect

import orderflow
from tests.support import services
from tests.support.processes import Service

ORDERFLOW = [sys.executable, "-m", "orderflow.entrypoints.cli"]
KAFKA_NOWHERE = "kafka://127.0.0.1:9"  # never reached: the check comes first


@pytest.fixture(params=["mysql", "postgres", "mongo"])
def fresh_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own on each store's server."""
    server_url: str = request.getfixturevalue(f"{request.param}_url")
    if request.param == "mongo":
        yield f"{server_url.rstrip('/')}/{services.unique_database_name()}"
        return
    scratch: Service = services.scratch_database(server_url)
    try:
        yield scratch.url
    finally:
        scratch.stop()


def run(database_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ORDERFLOW_DATABASE_URL": database_url,
        "ORDERFLOW_BROKER_URL": KAFKA_NOWHERE,
        # Configured as production requires: the schema is what is missing.
        "ORDERFLOW_ID_SECRET": "an id secret for the migration job tests, 32+ bytes",
    }
    return subprocess.Popen(
        [*ORDERFLOW, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def stored_names(database_url: str) -> set[str]:
    """The tables (SQL) or collections (MongoDB) of the database."""
    if database_url.startswith("mongodb"):
        client: MongoClient[dict[str, object]] = MongoClient(database_url)
        try:
            return set(client.get_default_database().list_collection_names())
        finally:
            client.close()
    engine = create_engine(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_api_refuses_a_database_never_migrated_and_two_migrate_runs_at_once_succeed(
    fresh_database: str,
) -> None:
    api = run(fresh_database, "api", "--port", "1", "--workers", "1")
    output = api.communicate(timeout=60)[0].decode()

    assert api.returncode == 1, output
    [line] = output.strip().splitlines()
    assert "run `orderflow migrate` first" in line
    assert stored_names(fresh_database) == set()

    migrations = [run(fresh_database, "migrate") for _ in range(2)]
    outputs = [m.communicate(timeout=240)[0].decode() for m in migrations]

    assert [m.returncode for m in migrations] == [0, 0], outputs
    app = orderflow.bootstrap(database_url=fresh_database, broker_url=KAFKA_NOWHERE)
    try:
        assert app.schema_state() == "current"
    finally:
        app.close()
