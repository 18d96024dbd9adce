"""What a newcomer meets on the command line: --help names the environment
variables each command reads, `seed --help` documents the catalog's columns
(and the shipped examples load), and a taken port is one line of error
before anything is touched."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orderflow.config import Settings
from orderflow.entrypoints.catalog_files import read_catalog
from orderflow.entrypoints.cli import main
from orderflow.entrypoints.cli_help import COMMANDS, COMMON, variable

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"(?:ORDERFLOW|OTEL)_[A-Z_]+")


def help_of(*command: str) -> str:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_orderflow_help_lists_every_setting_as_its_environment_variable() -> None:
    named = set(VARIABLE.findall(help_of()))
    assert {variable(field) for field in Settings.model_fields} <= named
    assert set(COMMON) <= named


@pytest.mark.parametrize("command", [*sorted(COMMANDS), "dlq list", "dlq replay", "dlq purge"])
def test_each_command_help_names_only_real_variables_and_the_database(command: str) -> None:
    named = set(VARIABLE.findall(help_of(*command.split())))
    real = {variable(field) for field in Settings.model_fields} | set(COMMON)
    assert named <= real, named - real
    if not command.startswith("dlq"):
        assert "ORDERFLOW_DATABASE_URL" in named
    assert "ORDERFLOW_BROKER_URL" in named or command in ("migrate", "seed", "keys")


def test_seed_help_documents_every_column_of_a_catalog() -> None:
    text = help_of("seed")
    for column in ("id", "name", "description", "price", "stock"):
        assert re.search(rf"^\s+{column}\s", text, re.MULTILINE), column
    assert "examples/catalog.json" in text


def test_the_example_catalogs_load_and_hold_the_same_products() -> None:
    def fields(path: Path) -> list[tuple[object, ...]]:
        return [(p.id, p.name, p.description, p.price, p.stock) for p in read_catalog(path)]

    as_json = fields(ROOT / "examples" / "catalog.json")
    assert as_json == fields(ROOT / "examples" / "catalog.csv")
    assert any(name == "Laptop" for _, name, *_ in as_json)  # the README orders one


def test_seeding_the_example_catalog_fills_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'shop.sqlite3'}")
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    result = runner.invoke(main, ["seed", str(ROOT / "examples" / "catalog.csv")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "seeded 12 products"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "api"])
def test_a_taken_port_is_one_line_and_touches_nothing(
    command: str, taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never.sqlite3"
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ORDERFLOW_BROKER_URL", "kafka://127.0.0.1:1")  # `api` needs one
    result = CliRunner().invoke(main, [command, "--port", str(taken_port)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{taken_port} (in use): "
        "stop what holds it or choose another with --port"
    ]
    assert not database.exists()


def test_a_free_port_passes_the_check() -> None:
    from orderflow.entrypoints.listening import ensure_port_free

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ensure_port_free("127.0.0.1", port)  # closed again: free


@pytest.mark.parametrize("command", ["serve", "api"])
def test_threads_that_streams_could_all_hold_are_refused(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never.sqlite3"
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ORDERFLOW_BROKER_URL", "kafka://127.0.0.1:1")
    monkeypatch.setenv("ORDERFLOW_STREAM_MAX_CONCURRENT", "4")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(main, [command, "--port", str(port), "--threads", "4"])
    assert result.exit_code == 2
    assert "--threads 4 leaves no thread for requests" in result.output
    assert "ORDERFLOW_STREAM_MAX_CONCURRENT=4" in result.output
    assert not database.exists()
