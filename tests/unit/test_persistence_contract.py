"""The persistence contract against the in-memory adapter and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.adapters.sqlalchemy.migrate import upgrade
from orderflow.adapters.sqlalchemy.tables import metadata
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.domain.errors import StorageUnavailable
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.cancellation_contract import CancellationContract
from tests.contracts.persistence_contract import PersistenceContract, an_order
from tests.contracts.reading_contract import ReadingContract


class TestMemoryPersistence(PersistenceContract, CancellationContract):
    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        return MemoryUnitOfWorkFactory()


@pytest.fixture(scope="module")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlUnitOfWorkFactory]:
    # Migrated once per module; each test starts from emptied tables.
    path = tmp_path_factory.mktemp("sqlite") / "orderflow.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    factory = SqlUnitOfWorkFactory.from_url(url)
    yield factory
    factory.close()


def clear_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))


class TestSqlitePersistence(PersistenceContract, ReadingContract, CancellationContract):
    @pytest.fixture
    def uow_factory(self, sqlite_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        clear_tables(sqlite_factory.engine)
        return sqlite_factory

    def test_the_database_runs_in_wal_mode_with_foreign_keys_on(
        self, uow_factory: SqlUnitOfWorkFactory
    ) -> None:
        with uow_factory.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000

    def test_ping_answers(self, uow_factory: SqlUnitOfWorkFactory) -> None:
        uow_factory.ping()


def test_an_unopenable_sqlite_database_is_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    factory = SqlUnitOfWorkFactory.from_url(f"sqlite:///{blocker / 'orderflow.sqlite3'}")
    try:
        with pytest.raises(StorageUnavailable), factory() as uow:
            uow.orders.add(an_order())
        with pytest.raises(StorageUnavailable):
            factory.ping()
    finally:
        factory.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    # It would be one database per connection: the migrated schema would vanish.
    with pytest.raises(ValueError, match="in-memory SQLite"):
        SqlUnitOfWorkFactory.from_url(url)
