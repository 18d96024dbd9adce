"""`orderflow keys create|list|revoke` against an embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import orderflow
from orderflow.domain.errors import Unauthenticated
from orderflow.domain.identity import PrincipalKind, Role
from orderflow.entrypoints.cli import main


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'data' / 'orderflow.sqlite3'}"
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", url)
    assert CliRunner().invoke(main, ["migrate"]).exit_code == 0
    return url


def keys(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["keys", *args])
    return result.exit_code, result.output


def test_create_prints_the_secret_alone_on_the_last_line_and_it_authenticates(
    database_url: str,
) -> None:
    code, output = keys("create", "--name", "web-shop", "--role", "shop")

    assert code == 0, output
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("ofk_") and " " not in secret
    app = orderflow.bootstrap(database_url=database_url)
    try:
        principal = app.authenticator.authenticate(secret)
        (stored,) = app.api_key_store.list_keys()
    finally:
        app.close()
    assert (principal.kind, principal.role) == (PrincipalKind.API_KEY, Role.SHOP)
    assert secret not in stored.secret_digest and len(stored.secret_digest) == 64


def test_list_shows_names_roles_and_revocations_but_never_a_secret(database_url: str) -> None:
    secret = keys("create", "--name", "shop", "--role", "shop")[1].strip().splitlines()[-1]
    keys("create", "--name", "grafana", "--role", "ops")
    keys("revoke", "shop")

    code, output = keys("list")

    assert code == 0
    lines = output.strip().splitlines()
    assert [line.split()[1:3] for line in lines] == [["shop", "shop"], ["grafana", "ops"]]
    assert "revoked -" not in lines[0] and "revoked -" in lines[1]
    assert secret not in output


def test_a_revoked_key_no_longer_authenticates(database_url: str) -> None:
    secret = keys("create", "--name", "old", "--role", "ops")[1].strip().splitlines()[-1]

    code, output = keys("revoke", "old")

    assert code == 0 and "revoked" in output
    app = orderflow.bootstrap(database_url=database_url)
    try:
        with pytest.raises(Unauthenticated):
            app.authenticator.authenticate(secret)
    finally:
        app.close()


def test_a_taken_name_an_unknown_key_and_a_bad_role_are_refused(database_url: str) -> None:
    keys("create", "--name", "twice", "--role", "shop")

    assert keys("create", "--name", "twice", "--role", "ops")[0] != 0
    assert keys("create", "--name", "x", "--role", "admin")[0] != 0
    code, output = keys("revoke", "nobody")
    assert code != 0 and "nobody" in output


def test_keys_refuse_the_memory_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", "memory://")

    code, output = keys("list")

    assert code != 0 and "ORDERFLOW_DATABASE_URL" in output


def test_the_production_api_refuses_a_shared_database_without_an_id_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", "postgresql+psycopg://db.invalid/orderflow")
    monkeypatch.setenv("ORDERFLOW_BROKER_URL", "kafka://127.0.0.1:1")
    monkeypatch.delenv("ORDERFLOW_ID_SECRET", raising=False)

    result = CliRunner().invoke(main, ["api"])

    assert result.exit_code != 0
    assert "ORDERFLOW_ID_SECRET" in result.output
