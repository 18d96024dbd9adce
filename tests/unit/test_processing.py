from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow import Orderflow
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.domain.errors import InvalidInput, InvalidTransition
from orderflow.domain.model import OrderStatus
from tests.unit.conftest import place_command
from tests.unit.journey import drain, process


def stock_of(app: Orderflow, product_id: str) -> int:
    return app.catalog.get(product_id).stock


def test_an_order_is_processed_to_completed_and_takes_stock(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("laptop", 2), ("mouse", 1)))
    assert placed.order["status"] == "pending"
    assert placed.order["total"] == "2017.90"
    drain(app)
    order = app.queries.get(str(placed.order["id"]))
    assert order.status is OrderStatus.COMPLETED
    assert stock_of(app, "laptop") == 8
    assert stock_of(app, "mouse") == 99


def test_prices_come_from_the_catalog(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("mouse", 3)))
    assert placed.order["items"] == [{"product_id": "mouse", "quantity": 3, "unit_price": "19.90"}]


def test_an_unknown_product_is_refused_at_intake_and_nothing_is_stored(app: Orderflow) -> None:
    with pytest.raises(InvalidInput, match=r"items\[1\].product_id"):
        app.placement.place(place_command(("mouse", 1), ("nope", 1)))
    with app.uow_factory() as uow:
        assert uow.outbox.pending_count() == 0


def test_insufficient_stock_fails_the_order_with_a_reason_and_takes_nothing(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("lamp", 4), ("mouse", 1)))
    drain(app)
    order = app.queries.get(str(placed.order["id"]))
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason is not None and "insufficient stock" in order.failure_reason
    assert stock_of(app, "lamp") == 3
    assert stock_of(app, "mouse") == 100


def test_processing_twice_changes_nothing_more_than_processing_once(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("laptop", 1)))
    order_id = str(placed.order["id"])
    drain(app)
    once = app.queries.get(order_id).to_dict()
    process(app.processor, placed.order)
    process(app.processor, placed.order)
    drain(app)
    assert app.queries.get(order_id).to_dict() == once
    assert stock_of(app, "laptop") == 9
    notifier = app.raw_notifier
    assert isinstance(notifier, RecordingNotifier)
    assert [(n.order_id, n.status) for n in notifier.sent] == [(order_id, "completed")]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=st.integers(min_value=1, max_value=4))
def test_redelivered_events_have_effects_exactly_once(app: Orderflow, deliveries: int) -> None:
    before = stock_of(app, "mouse")
    placed = app.placement.place(place_command(("mouse", 1)))
    with app.uow_factory() as uow:
        message = uow.outbox.claim_batch(limit=1000)[-1]
    for _ in range(deliveries - 1):
        app.publisher.publish([message])  # the same event, duplicated on the broker
    drain(app)
    assert stock_of(app, "mouse") == before - 1
    notifier = app.raw_notifier
    assert isinstance(notifier, RecordingNotifier)
    sent = [n for n in notifier.sent if n.order_id == placed.order["id"]]
    assert len(sent) == 1


def test_ten_concurrent_orders_for_three_units_complete_exactly_three(app: Orderflow) -> None:
    placed = [app.placement.place(place_command(("lamp", 1))).order for _ in range(10)]
    ids = [str(order["id"]) for order in placed]
    app.relay.drain_once()
    threads = [threading.Thread(target=process, args=(app.processor, o)) for o in placed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drain(app)
    statuses = [app.queries.get(oid) for oid in ids]
    completed = [o for o in statuses if o.status is OrderStatus.COMPLETED]
    failed = [o for o in statuses if o.status is OrderStatus.FAILED]
    assert len(completed) == 3
    assert len(failed) == 7
    assert all("insufficient stock" in (o.failure_reason or "") for o in failed)
    assert stock_of(app, "lamp") == 0


def test_cancelling_a_pending_order_reserves_nothing_then(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("laptop", 1)))
    order_id = str(placed.order["id"])
    assert app.cancellation.cancel(order_id).order.status is OrderStatus.CANCELLED
    drain(app)  # the queued event finds it cancelled and leaves it alone
    assert app.queries.get(order_id).status is OrderStatus.CANCELLED
    assert stock_of(app, "laptop") == 10
    with pytest.raises(InvalidTransition):
        app.cancellation.cancel(order_id)


def test_the_worker_writes_the_processed_order_through_to_the_cache(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    drain(app, app.new_worker(poll_timeout_s=0.01))
    cached = app.raw_cache.get(str(placed.order["id"]))
    assert cached is not None and cached.status is OrderStatus.COMPLETED
