"""Migrations are a job: only `orderflow migrate` (and `serve`, which owns its
SQLite file) migrates. api, worker and relay read the schema revision at
start and, when it is behind, exit non-zero with one line naming
`orderflow migrate`, having touched nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

import orderflow
from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.migrate import upgrade
from orderflow.entrypoints.cli import main

KAFKA_NOWHERE = "kafka://127.0.0.1:9"  # never reached: the check comes first


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    database = tmp_path / "shop.sqlite3"
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", sqlite_url(database))
    monkeypatch.setenv("ORDERFLOW_BROKER_URL", KAFKA_NOWHERE)
    return database


@pytest.mark.parametrize("command", ["api", "worker", "relay"])
def test_a_process_on_a_database_never_migrated_exits_naming_migrate_and_creates_nothing(
    env: Path, command: str
) -> None:
    result = CliRunner().invoke(main, [command])

    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "orderflow migrate" in line
    assert not env.exists()  # not even the SQLite file


@pytest.mark.parametrize("command", ["api", "worker", "relay"])
def test_a_process_on_an_older_revision_exits_and_changes_nothing(env: Path, command: str) -> None:
    url = sqlite_url(env)
    upgrade(url, "0002")
    before = tables(url)

    result = CliRunner().invoke(main, [command])

    assert result.exit_code == 1
    assert "run `orderflow migrate` first" in result.output
    assert tables(url) == before
    assert "notifications" not in before


def test_the_schema_state_is_behind_then_current_after_migrate(env: Path) -> None:
    app = orderflow.bootstrap()
    try:
        assert app.schema_state() == "behind"
        app.migrate()
        assert app.schema_state() == "current"
    finally:
        app.close()


def test_a_database_migrated_by_a_newer_release_is_ahead_not_behind(env: Path) -> None:
    url = sqlite_url(env)
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    engine.dispose()

    app = orderflow.bootstrap()
    try:
        assert app.schema_state() == "ahead"
    finally:
        app.close()


def test_the_in_memory_store_is_always_current() -> None:
    app = orderflow.bootstrap(database_url="memory://")
    try:
        assert app.schema_state() == "current"
    finally:
        app.close()


def test_concurrent_migrate_runs_on_one_sqlite_file_all_succeed(env: Path) -> None:
    # Processes, as operators run them: Alembic's context is process-global.
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "orderflow.entrypoints.cli", "migrate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    app = orderflow.bootstrap()
    try:
        assert app.schema_state() == "current"
    finally:
        app.close()
