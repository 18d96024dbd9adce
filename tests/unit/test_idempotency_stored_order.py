"""An order stored under a key's order id but without its Idempotency-Key
record: placed through the broker during an outage and persisted by the
worker, or committed by a concurrent request between the two reads of a
retry (READ COMMITTED). A retry with the same body replays it; a different
body under the same key is a conflict (422), never the other body's order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.application.placing import order_id_for
from orderflow.domain.errors import IdempotencyConflict
from orderflow.domain.model import Order, OrderLine, PaymentMethod, Product
from tests.unit.conftest import place_command

KEY = "contested-key"


@pytest.fixture
def app() -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url="memory://", notify_url="memory://")
    instance.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 5)])
    yield instance
    instance.close()


@pytest.fixture
def stored(app: Orderflow) -> Order:
    command = place_command(("mouse", 1), key=KEY)
    order = Order.place(
        order_id=order_id_for(command, secret=app.container.id_secret()),
        customer=command.customer,
        items=(OrderLine("mouse", 1, Decimal("10.00")),),
        payment_method=command.payment_method,
        now=app.container.clock().now(),
    )
    order.events.clear()
    with app.uow_factory() as uow:  # the order without its key's record
        uow.orders.add(order)
        uow.commit()
    return order


def test_the_same_body_replays_the_stored_order(app: Orderflow, stored: Order) -> None:
    result = app.placement.place(place_command(("mouse", 1), key=KEY))
    assert result.created is False
    assert result.order["id"] == stored.id


@pytest.mark.parametrize(
    "different",
    [
        place_command(("mouse", 2), key=KEY),
        replace(place_command(("mouse", 1), key=KEY), payment_method=PaymentMethod.PAYPAL),
    ],
)
def test_a_different_body_under_the_key_is_a_conflict(
    app: Orderflow, stored: Order, different: object
) -> None:
    with pytest.raises(IdempotencyConflict):
        app.placement.place(different)  # type: ignore[arg-type]
    with app.uow_factory() as uow:
        after = uow.orders.get(stored.id)
        assert uow.outbox.pending_count() == 0  # nothing placed
    assert after is not None
    assert (after.items, after.payment_method, after.version) == (
        stored.items,
        stored.payment_method,
        stored.version,
    )
