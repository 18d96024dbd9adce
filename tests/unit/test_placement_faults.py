"""Intake when the database fails at the worst moment: the commit lands but
its acknowledgement is lost. The broker fallback then publishes the order
too; it must be the same order (same id), so the worker's upsert by id
collapses the two and the customer's one 201 stays one order."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from dependency_injector import providers

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.model import OrderStatus, Product
from tests.unit.conftest import place_command
from tests.unit.faults import LostAckUnitOfWorkFactory
from tests.unit.journey import drain


@pytest.fixture
def store() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def lost_ack(store: MemoryUnitOfWorkFactory) -> LostAckUnitOfWorkFactory:
    return LostAckUnitOfWorkFactory(store)


@pytest.fixture
def app(lost_ack: LostAckUnitOfWorkFactory) -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url="memory://", notify_url="memory://")
    instance.container.uow_factory.override(providers.Object(lost_ack))
    instance.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 5)])
    yield instance
    instance.close()


@pytest.mark.parametrize("key", [None, "k-1"])
def test_a_commit_whose_ack_is_lost_still_makes_exactly_one_order(
    app: Orderflow,
    lost_ack: LostAckUnitOfWorkFactory,
    store: MemoryUnitOfWorkFactory,
    key: str | None,
) -> None:
    app.placement.place(place_command(("mouse", 1)))  # the price is known from now on
    lost_ack.armed = True
    placed = app.placement.place(place_command(("mouse", 2), key=key))
    lost_ack.armed = False

    drain(app)

    orders = store.database.tables.orders
    assert len(orders) == 2  # the first order and this one, not a third
    assert str(placed.order["id"]) in orders
    assert app.queries.get(str(placed.order["id"])).status is OrderStatus.COMPLETED
    assert app.catalog.get("mouse").stock == 2  # 5 - 1 - 2, taken once
