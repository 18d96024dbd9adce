"""The worker processes a poll's orders in one transaction, and still keeps
every guarantee of one-at-a-time processing: a bad order is isolated, an
outage is retried (or pauses) without doubling anything."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.adapters.envelope import encode
from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.application.messages import to_outbox
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import Customer, Order, OrderLine, OrderStatus, PaymentMethod, Product
from orderflow.entrypoints.dead_letters import original_value
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.unit.conftest import place_command
from tests.unit.faults import FlakyUnitOfWorkFactory
from tests.unit.journey import app_over, drain, memory_broker


class CountingFactory(FlakyUnitOfWorkFactory):
    """A flaky factory that allows batches, as the SQL and memory ones do."""

    batch_limit = 1000


@pytest.fixture
def factory() -> CountingFactory:
    return CountingFactory(MemoryUnitOfWorkFactory())


@pytest.fixture
def app(factory: UnitOfWorkFactory) -> Iterator[Orderflow]:
    instance = app_over(factory, Product("pen", "Pen", "", Decimal("2.00"), 1000))
    yield instance
    instance.close()


def broker(app: Orderflow) -> MemoryBroker:
    return memory_broker(app)


def placed_orders(app: Orderflow, count: int, quantity: int = 2) -> list[str]:
    ids = [
        str(app.placement.place(place_command(("pen", quantity))).order["id"]) for _ in range(count)
    ]
    app.relay.drain_once()
    return ids


def status_events(app: Orderflow) -> list[dict[str, object]]:
    envelopes = [json.loads(raw) for raw in broker(app).messages(app.topics.events)]
    return [e for e in envelopes if e["type"] in ("OrderCompleted", "OrderFailed")]


def unstorable_order_placed(app: Orderflow) -> bytes:
    """An OrderPlaced that decodes, for an order that is not stored and whose
    snapshot cannot be stored: it fails only when processed."""
    order = Order.place(
        order_id=str(uuid.uuid4()),
        customer=Customer("Eve", "eve@example.com", "1 Bad Road"),
        items=(OrderLine("pen", 1, Decimal("2.00")),),
        payment_method=PaymentMethod.CARD,
        now=datetime.now(UTC),
    )
    snapshot = {**order.to_dict(), "payment_method": "barter"}
    event = OrderPlaced(order_id=order.id, occurred_at=order.created_at, order=snapshot)
    return encode(to_outbox([event], topics=app.topics)[0])


def test_a_poll_of_orders_is_processed_in_one_transaction(
    app: Orderflow, factory: CountingFactory
) -> None:
    ids = placed_orders(app, 20)
    worker = app.new_worker(poll_timeout_s=0.01)
    opened = factory.calls
    assert worker.run_once() == 20
    assert factory.calls - opened == 1
    assert {app.queries.get(i).status for i in ids} == {OrderStatus.COMPLETED}
    assert {app.queries.get(i).version for i in ids} == {3}  # pending, processing, completed
    assert app.catalog.get("pen").stock == 1000 - 40
    assert sorted(str(e["key"]) for e in status_events(app)) == sorted(ids)


def test_one_bad_order_is_dead_lettered_and_fails_or_doubles_no_other(app: Orderflow) -> None:
    before = placed_orders(app, 4)
    poison = unstorable_order_placed(app)
    broker(app).append(app.topics.orders, "poison", poison)
    after = placed_orders(app, 4)
    drain(app)

    letters = [json.loads(raw)["data"] for raw in broker(app).messages(app.topics.dlq)]
    assert len(letters) == 1
    assert original_value(letters[0]) == poison
    good = before + after
    assert {app.queries.get(i).status for i in good} == {OrderStatus.COMPLETED}
    assert app.catalog.get("pen").stock == 1000 - 2 * len(good)
    assert len(status_events(app)) == len(good)
    assert broker(app).lag(app.settings.consumer_group, app.topics.orders) == 0


def test_an_outage_mid_batch_is_retried_as_a_batch_with_effects_once(
    app: Orderflow, factory: CountingFactory
) -> None:
    ids = placed_orders(app, 10)
    worker = app.new_worker(poll_timeout_s=0.01)
    factory.failures = 2  # the third attempt goes through
    assert worker.run_once() == 10
    assert {app.queries.get(i).status for i in ids} == {OrderStatus.COMPLETED}
    assert app.catalog.get("pen").stock == 1000 - 20
    assert broker(app).messages(app.topics.dlq) == []


def test_an_outage_that_outlasts_the_retries_pauses_and_nothing_is_doubled(
    app: Orderflow, factory: CountingFactory
) -> None:
    ids = placed_orders(app, 10)
    worker = app.new_worker(poll_timeout_s=0.01)
    worker._retry = worker._retry.__class__(attempts=3, initial_backoff_s=0.001, outage_pause_s=0)
    factory.failures = 3
    assert worker.run_once() == 0  # sought back, not dead-lettered
    drain(app, worker)
    assert {app.queries.get(i).status for i in ids} == {OrderStatus.COMPLETED}
    assert app.catalog.get("pen").stock == 1000 - 20
    assert broker(app).messages(app.topics.dlq) == []
    assert len(status_events(app)) == 10


def test_a_batch_that_runs_out_of_stock_fails_exactly_the_orders_that_do_not_fit(
    app: Orderflow,
) -> None:
    app.catalog.upsert_many([Product("ink", "Ink", "", Decimal("9.00"), 5)])
    ids = [str(app.placement.place(place_command(("ink", 2))).order["id"]) for _ in range(4)]
    app.relay.drain_once()
    drain(app)
    statuses = sorted(app.queries.get(i).status.value for i in ids)
    # Whatever the delivery order: 2 + 2 fit in 5, the other two do not.
    assert statuses == ["completed"] * 2 + ["failed"] * 2
    assert app.catalog.get("ink").stock == 1


def test_duplicates_in_a_batch_take_stock_once(app: Orderflow) -> None:
    ids = placed_orders(app, 3)
    for raw in list(broker(app).messages(app.topics.orders)):
        broker(app).append(app.topics.orders, "dup", raw)
    drain(app)
    assert {app.queries.get(i).version for i in ids} == {3}
    assert app.catalog.get("pen").stock == 1000 - 6
    assert sorted({str(e["key"]) for e in status_events(app)}) == sorted(ids)


def test_a_unit_of_work_factory_must_say_how_many_orders_a_transaction_holds() -> None:
    class Silent(UnitOfWorkFactory):
        def __call__(self) -> UnitOfWork:
            raise NotImplementedError

    with pytest.raises(TypeError, match="batch_limit"):
        Silent()  # type: ignore[abstract]
    assert MemoryUnitOfWorkFactory().batch_limit > 1


def test_a_final_order_is_read_from_the_process_without_the_cache(app: Orderflow) -> None:
    (order_id,) = placed_orders(app, 1)
    assert app.queries.get(order_id).status is OrderStatus.PENDING
    drain(app)
    assert app.queries.get(order_id).status is OrderStatus.COMPLETED
    app.cancellation.cancel(order_id)
    first = app.queries.get(order_id)
    assert first.status is OrderStatus.CANCELLED
    app.raw_cache.delete(order_id)  # neither Redis nor the database is asked again
    with app.uow_factory() as uow:
        assert uow.orders.get(order_id) is not None
    second = app.queries.get(order_id)
    assert second.to_dict() == first.to_dict()
    assert second is not first
    assert app.raw_cache.get(order_id) is None


@pytest.mark.parametrize("database_url", ["memory://", "sqlite:///{tmp}/batches.sqlite3"])
def test_the_composed_processor_batches_as_far_as_its_adapter_allows(
    database_url: str, tmp_path: object
) -> None:
    # The processor gets its unit of work through wrappers (lock timing); a
    # wrapper that hid the adapter's batch_limit would turn batching off.
    instance = orderflow.bootstrap(database_url=database_url.format(tmp=tmp_path))
    try:
        assert instance.processor.batch_limit == instance.uow_factory.batch_limit > 1
    finally:
        instance.close()


def test_with_a_processing_delay_a_batch_is_seen_processing_then_finished() -> None:
    app = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", processing_delay_ms=200
    )
    try:
        app.catalog.upsert_many([Product("pen", "Pen", "", Decimal("2.00"), 1000)])
        ids = placed_orders(app, 3)
        worker = app.new_worker(poll_timeout_s=0.01)
        seen: set[OrderStatus] = set()
        with ThreadPoolExecutor(1) as pool:
            handled = pool.submit(worker.run_once)
            while not handled.done():
                seen.add(app.queries.get(ids[0]).status)
                time.sleep(0.01)
        assert handled.result() == 3
        assert OrderStatus.PROCESSING in seen
        assert {app.queries.get(i).status for i in ids} == {OrderStatus.COMPLETED}
        assert {app.queries.get(i).version for i in ids} == {3}
        assert app.catalog.get("pen").stock == 1000 - 6
        worker.close()
    finally:
        app.close()


def test_a_completed_order_is_not_kept_by_the_process_it_can_still_change(
    app: Orderflow,
) -> None:
    (order_id,) = placed_orders(app, 1)
    drain(app)
    assert app.queries.get(order_id).status is OrderStatus.COMPLETED
    # Cancelled through another process: this one's cache and database say so.
    with app.uow_factory() as uow:
        order = uow.orders.get_for_update(order_id)
        assert order is not None
        order.cancel(order.updated_at)
        uow.orders.save(order)
        uow.commit()
    app.raw_cache.put(order)

    assert app.queries.get(order_id).status is OrderStatus.CANCELLED
