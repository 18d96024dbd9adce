"""The bench writes its backlog of placed orders straight into the orders
table, in bulk; the repository must read every one back as the order it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.adapters.sqlalchemy.migrate import upgrade
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from tools.bench.data import backlog_orders, store_orders


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
    url = f"sqlite:///{tmp_path / 'backlog.sqlite3'}"
    upgrade(url)
    instance = SqlUnitOfWorkFactory.from_url(url)
    yield instance
    instance.close()


def test_the_bulk_backlog_reads_back_through_the_repository_unchanged(
    factory: SqlUnitOfWorkFactory,
) -> None:
    placed = backlog_orders(25)
    store_orders(factory.engine, placed, chunk=10)

    with factory() as uow:
        for order in placed:
            stored = uow.orders.get(order.id)
            assert stored is not None, order.id
            assert stored.to_dict() == order.to_dict()
            assert stored.history == order.history
