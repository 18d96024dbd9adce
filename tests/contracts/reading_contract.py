"""The contract of `UnitOfWorkFactory.reading()` on stores whose readers need
not queue with writers (SQLite in WAL mode, MariaDB, PostgreSQL): a reading
unit of work neither waits for a writer's open transaction nor delays it, and
cannot commit.

Subclass ReadingContract beside a PersistenceContract; the same `uow_factory`
fixture (an EMPTY store) serves both."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from orderflow.domain.model import Product
from orderflow.ports.unit_of_work import UnitOfWorkFactory

PATIENCE_S = 5.0  # far beyond a write's time, far below SQLite's busy timeout


def _product(product_id: str) -> Product:
    return Product(product_id, f"Product {product_id}", "", Decimal("1.00"), 10)


def _store(uow_factory: UnitOfWorkFactory, product_id: str) -> None:
    with uow_factory() as uow:
        uow.products.upsert(_product(product_id))
        uow.commit()


class ReadingContract:
    def test_a_writer_commits_while_a_reading_unit_of_work_is_open(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        _store(uow_factory, "first")
        committed = threading.Event()

        def write() -> None:
            _store(uow_factory, "second")
            committed.set()

        writer = threading.Thread(target=write, daemon=True)
        with uow_factory.reading() as reader:
            assert reader.products.get("first") is not None  # its transaction is open
            writer.start()
            assert committed.wait(PATIENCE_S), "the writer waited for the reader"
        writer.join(PATIENCE_S)
        with uow_factory.reading() as reader:
            assert reader.products.get("second") is not None

    def test_a_reading_unit_of_work_does_not_wait_for_an_open_writer(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        _store(uow_factory, "first")
        found: list[Product | None] = []

        def read() -> None:
            with uow_factory.reading() as reader:
                found.append(reader.products.get("first"))

        with uow_factory() as writer:
            writer.products.upsert(_product("pending"))  # the writer's transaction is open
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            reader.join(PATIENCE_S)
            assert found, "the reader waited for the writer"
            writer.commit()
        assert found[0] is not None and found[0].id == "first"

    def test_a_reading_unit_of_work_cannot_commit(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory.reading() as reader, pytest.raises(RuntimeError):
            reader.commit()
