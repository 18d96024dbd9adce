"""Intake's group commit: requests that arrive while a placement is being
committed are placed together in one transaction, and each caller still gets
exactly its own order, or its own error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal

import pytest
from dependency_injector import providers

import orderflow
from orderflow import Orderflow
from orderflow.adapters.group_commit import GroupCommit
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.commands import PlaceOrder
from orderflow.domain.errors import InvalidInput, StorageUnavailable
from orderflow.domain.model import OrderStatus, Product
from orderflow.ports.placement import PlacementResult
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.unit.conftest import place_command
from tests.unit.journey import drain, memory_broker


class GatedFactory(UnitOfWorkFactory):
    """Counts units of work; while `gate` is closed, opening one waits, so
    that the requests behind it queue up."""

    batch_limit = 1000

    def __init__(self) -> None:
        self.inner = MemoryUnitOfWorkFactory()
        self.gate = threading.Event()
        self.gate.set()
        self.opened = 0
        self.failing: set[int] = set()  # which units of work (1-based) fail
        self.down = False  # the database is unreachable

    def __call__(self) -> UnitOfWork:
        self.opened += 1
        number = self.opened
        self.gate.wait(10)
        if number in self.failing:
            raise RuntimeError("a bug in the batch (injected)")
        if self.down:
            raise StorageUnavailable("database unreachable (injected)")
        return self.inner()


@pytest.fixture
def factory() -> GatedFactory:
    return GatedFactory()


@pytest.fixture
def app(factory: GatedFactory) -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url="memory://", notify_url="memory://")
    instance.container.uow_factory.override(providers.Object(factory))
    instance.catalog.upsert_many([Product("pen", "Pen", "", Decimal("2.50"), 1000)])
    yield instance
    instance.close()


def queued(app: Orderflow, count: int) -> None:
    deadline = time.monotonic() + 10
    placement = app.placement
    assert isinstance(placement, GroupCommit)
    while len(placement._waiting) < count:
        assert time.monotonic() < deadline, "the requests did not queue"
        time.sleep(0.005)


def leaders(app: Orderflow) -> int:
    """How many batches a process commits at once (GroupCommit: one)."""
    return 1


def place_concurrently(
    app: Orderflow, factory: GatedFactory, commands: Sequence[PlaceOrder], *, failing: int = 0
) -> list[Future[PlacementResult]]:
    """As many first requests as there may be batches in flight hold them at
    a closed gate, one order each, while the others queue behind them. With
    `failing`, the unit of work of the batch after them fails."""
    pool = ThreadPoolExecutor(len(commands) + leaders(app))
    base = factory.opened
    factory.gate.clear()
    first = []
    for _ in range(leaders(app)):
        first.append(pool.submit(app.placement.place, place_command(("pen", 1))))
        while factory.opened < base + len(first):
            time.sleep(0.005)
    rest = [pool.submit(app.placement.place, command) for command in commands]
    queued(app, len(commands))
    if failing:
        factory.failing = {base + leaders(app) + 1}
    factory.gate.set()
    pool.shutdown(wait=True)
    return [*first, *rest]


def test_requests_that_queue_behind_a_commit_are_placed_in_one_transaction(
    app: Orderflow, factory: GatedFactory
) -> None:
    before = factory.opened
    futures = place_concurrently(app, factory, [place_command(("pen", q)) for q in range(1, 10)])
    results = [future.result() for future in futures]
    n = leaders(app)
    assert factory.opened - before == n + 1  # the first ones alone, then the nine together
    assert len({r.order["id"] for r in results}) == n + 9
    quantities = [r.order["items"][0]["quantity"] for r in results]  # type: ignore[index]
    assert quantities == [1] * n + list(range(1, 10))
    totals = {r.order["total"] for r in results[n:]}
    assert totals == {str(Decimal("2.50") * q) for q in range(1, 10)}
    for result in results:
        assert result.created
        assert app.queries.get(str(result.order["id"])).status is OrderStatus.PENDING
    drain(app)
    assert app.catalog.get("pen").stock == 1000 - n - sum(range(1, 10))


def test_an_unknown_product_fails_its_own_request_and_no_other(
    app: Orderflow, factory: GatedFactory
) -> None:
    commands = [place_command(("pen", 1)), place_command(("nope", 1)), place_command(("pen", 2))]
    futures = place_concurrently(app, factory, commands)
    n = leaders(app)
    with pytest.raises(InvalidInput, match=r"items\[0\]\.product_id"):
        futures[n + 1].result()
    placed = [f.result() for i, f in enumerate(futures) if i != n + 1]
    assert len({r.order["id"] for r in placed}) == n + 2
    with app.uow_factory() as uow:
        assert uow.outbox.pending_count() == n + 2  # nothing of the refused request


def test_a_batch_that_fails_is_placed_again_one_by_one(
    app: Orderflow, factory: GatedFactory
) -> None:
    commands = [place_command(("pen", q)) for q in range(1, 5)]
    before = factory.opened
    futures = place_concurrently(app, factory, commands, failing=1)
    results = [future.result() for future in futures]
    n = leaders(app)
    assert len({r.order["id"] for r in results}) == n + 4
    # The first ones, the failed batch, then each of its requests alone.
    assert factory.opened - before == n + 1 + len(commands)
    drain(app)
    assert app.catalog.get("pen").stock == 1000 - n - sum(range(1, 5))


def test_with_the_database_down_every_request_of_a_batch_goes_to_the_broker(
    app: Orderflow, factory: GatedFactory
) -> None:
    app.placement.place(place_command(("pen", 1)))  # the price is now known
    factory.down = True
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(app.placement.place, [place_command(("pen", 2))] * 4))
    assert all(r.created and r.order["status"] == "pending" for r in results)
    assert len({r.order["id"] for r in results}) == 4
    orders_topic = memory_broker(app).messages(app.topics.orders)
    assert len(orders_topic) == 4  # straight to the broker; the first is still in the outbox
