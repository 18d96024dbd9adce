"""The ApiKeyStore contract on memory and SQLite (the servers: tests/integration)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.adapters.memory.api_keys import MemoryApiKeyStore
from orderflow.adapters.sqlalchemy.api_keys import SqlApiKeyStore
from orderflow.adapters.sqlalchemy.migrate import upgrade
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.ports.api_keys import ApiKeyStore
from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.unit.test_persistence_contract import clear_tables


class TestMemoryApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_key_store(self) -> ApiKeyStore:
        return MemoryApiKeyStore()


@pytest.fixture(scope="module")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlUnitOfWorkFactory]:
    url = f"sqlite:///{tmp_path_factory.mktemp('keys') / 'orderflow.sqlite3'}"
    upgrade(url)
    factory = SqlUnitOfWorkFactory.from_url(url)
    yield factory
    factory.close()


class TestSqliteApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_key_store(self, sqlite_factory: SqlUnitOfWorkFactory) -> ApiKeyStore:
        clear_tables(sqlite_factory.engine)
        return SqlApiKeyStore(sqlite_factory.engine)
