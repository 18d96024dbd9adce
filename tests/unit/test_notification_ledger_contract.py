"""The notification ledger contract on memory and SQLite."""

from __future__ import annotations

import pytest

from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.ports.notifier import NotificationLedger
from tests.contracts.notification_ledger_contract import NotificationLedgerContract
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
