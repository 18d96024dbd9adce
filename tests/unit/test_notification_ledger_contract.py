"""The notification ledger and notification staging contracts on memory and SQLite."""

from __future__ import annotations

import pytest

from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.ports.notifier import NotificationLedger
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.notification_ledger_contract import NotificationLedgerContract
from tests.contracts.notification_staging_contract import NotificationStagingContract
from tests.unit.test_persistence_contract import clear_tables, sqlite_factory

__all__ = ["sqlite_factory"]  # the module-scoped fixture, shared


class TestMemoryNotificationLedger(NotificationLedgerContract):
    @pytest.fixture
    def ledger(self) -> NotificationLedger:
        return MemoryNotificationLedger()


class TestSqliteNotificationLedger(NotificationLedgerContract):
    @pytest.fixture
    def ledger(self, sqlite_factory: SqlUnitOfWorkFactory) -> NotificationLedger:
        clear_tables(sqlite_factory.engine)
        return SqlNotificationLedger(sqlite_factory.engine)


class TestMemoryNotificationStaging(NotificationStagingContract):
    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        return MemoryUnitOfWorkFactory()

    @pytest.fixture
    def ledger(self) -> NotificationLedger:
        return MemoryNotificationLedger()


class TestSqliteNotificationStaging(NotificationStagingContract):
    @pytest.fixture
    def uow_factory(self, sqlite_factory: SqlUnitOfWorkFactory) -> UnitOfWorkFactory:
        clear_tables(sqlite_factory.engine)
        return sqlite_factory

    @pytest.fixture
    def ledger(self, sqlite_factory: SqlUnitOfWorkFactory) -> NotificationLedger:
        return SqlNotificationLedger(sqlite_factory.engine)
