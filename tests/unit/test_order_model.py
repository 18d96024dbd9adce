from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.domain import events
from orderflow.domain.errors import InvalidInput, InvalidTransition
from orderflow.domain.model import (
    ALLOWED_TRANSITIONS,
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Transition,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)

lines = st.builds(
    OrderLine,
    product_id=st.sampled_from(["a", "b", "c", "d"]),
    quantity=st.integers(min_value=1, max_value=1000),
    unit_price=st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False),
)


def new_order(items: tuple[OrderLine, ...] | None = None) -> Order:
    return Order.place(
        order_id="o-1",
        customer=Customer("Ada", "ada@example.com", "1 Street"),
        items=items if items is not None else (OrderLine("a", 2, Decimal("1.25")),),
        payment_method=PaymentMethod.PAYPAL,
        now=NOW,
    )


def move(order: Order, target: OrderStatus) -> None:
    if target is OrderStatus.PROCESSING:
        order.start_processing(NOW)
    elif target is OrderStatus.COMPLETED:
        order.complete(NOW)
    elif target is OrderStatus.FAILED:
        order.fail("out of stock", NOW)
    elif target is OrderStatus.CANCELLED:
        order.cancel(NOW)
    else:
        raise AssertionError(target)


def test_a_placed_order_is_pending_and_records_order_placed() -> None:
    order = new_order()
    assert order.status is OrderStatus.PENDING
    assert order.version == 1
    assert [type(e) for e in order.events] == [events.OrderPlaced]


@given(st.lists(lines, min_size=1, max_size=20))
def test_total_equals_the_sum_of_the_lines(items: list[OrderLine]) -> None:
    order = new_order(tuple(items))
    assert order.total == sum((i.unit_price * i.quantity for i in items), Decimal("0"))


# No method moves an order back to pending, so the walk targets the others.
REACHABLE = [status for status in OrderStatus if status is not OrderStatus.PENDING]


@given(st.lists(st.sampled_from(REACHABLE), max_size=8))
def test_only_legal_status_transitions_are_accepted(path: list[OrderStatus]) -> None:
    order = new_order()
    for target in path:
        before = (order.status, order.version)
        if target in ALLOWED_TRANSITIONS[order.status]:
            move(order, target)
            assert order.status is target
            assert order.version == before[1] + 1
        else:
            with pytest.raises(InvalidTransition):
                move(order, target)
            assert (order.status, order.version) == before


@pytest.mark.parametrize("path", [["processing", "failed"], ["cancelled"]])
def test_a_final_order_accepts_no_transition(path: list[str]) -> None:
    order = new_order()
    for status in path:
        move(order, OrderStatus(status))
    assert order.status.is_final
    for target in REACHABLE:
        with pytest.raises(InvalidTransition):
            move(order, target)


def test_a_completed_order_can_only_be_cancelled() -> None:
    order = new_order()
    order.start_processing(NOW)
    order.complete(NOW)
    assert order.status.is_terminal and not order.status.is_final
    assert ALLOWED_TRANSITIONS[order.status] == {OrderStatus.CANCELLED}


def test_completing_reserves_every_line_and_cancelling_returns_them_once() -> None:
    order = new_order(
        (
            OrderLine("a", 2, Decimal("1")),
            OrderLine("b", 1, Decimal("1")),
            OrderLine("a", 3, Decimal("1")),
        )
    )
    assert order.reserved == {}
    order.start_processing(NOW)
    assert order.reserved == {}
    order.complete(NOW)
    assert order.reserved == {"a": 5, "b": 1}

    restocked = order.cancel(NOW)

    assert restocked == {"a": 5, "b": 1}
    assert order.reserved == {}
    cancelled = order.events[-1]
    assert isinstance(cancelled, events.OrderCancelled)
    assert cancelled.restocked == [
        {"product_id": "a", "quantity": 5},
        {"product_id": "b", "quantity": 1},
    ]
    with pytest.raises(InvalidTransition):
        order.cancel(NOW)


@pytest.mark.parametrize("path", [[], ["processing"]])
def test_cancelling_before_completion_returns_nothing(path: list[str]) -> None:
    order = new_order()
    for status in path:
        move(order, OrderStatus(status))
    assert order.cancel(NOW) == {}
    cancelled = order.events[-1]
    assert isinstance(cancelled, events.OrderCancelled) and cancelled.restocked == []


@pytest.mark.parametrize(
    ("status", "reserved"),
    [
        ("pending", {}),
        ("processing", {}),
        ("completed", {"a": 2}),
        ("failed", {}),
        ("cancelled", {}),
    ],
)
def test_a_snapshot_without_reservations_derives_them_from_its_status(
    status: str, reserved: dict[str, int]
) -> None:
    snapshot = new_order().to_dict()
    del snapshot["reserved"]
    snapshot.update(status=status, history=[])
    assert Order.from_dict(snapshot).reserved == reserved


def test_the_reservation_survives_a_snapshot() -> None:
    order = new_order()
    order.start_processing(NOW)
    order.complete(NOW)
    assert Order.from_dict(order.to_dict()).reserved == {"a": 2}


def test_failing_records_the_reason() -> None:
    order = new_order()
    order.start_processing(NOW)
    order.fail("insufficient stock", NOW + timedelta(seconds=1))
    assert order.failure_reason == "insufficient stock"
    assert isinstance(order.events[-1], events.OrderFailed)


@given(st.lists(lines, min_size=1, max_size=5))
def test_an_order_survives_its_snapshot(items: list[OrderLine]) -> None:
    order = new_order(tuple(items))
    order.start_processing(NOW)
    copy = Order.from_dict(order.to_dict())
    assert copy.to_dict() == order.to_dict()


def test_an_order_needs_items_and_positive_quantities() -> None:
    with pytest.raises(InvalidInput):
        new_order(())
    with pytest.raises(InvalidInput):
        OrderLine("a", 0, Decimal("1"))


def test_events_survive_their_dict_form() -> None:
    order = new_order()
    placed = order.events[0]
    again = events.event_from_dict("OrderPlaced", placed.to_dict())
    assert again == placed


def test_every_transition_appends_to_the_history() -> None:
    order = new_order()
    order.start_processing(NOW + timedelta(seconds=1))
    order.fail("out of stock", NOW + timedelta(seconds=2))

    assert order.history == [
        Transition(OrderStatus.PENDING, NOW),
        Transition(OrderStatus.PROCESSING, NOW + timedelta(seconds=1)),
        Transition(OrderStatus.FAILED, NOW + timedelta(seconds=2), "out of stock"),
    ]
    assert Order.from_dict(order.to_dict()).history == order.history


def test_a_refused_transition_leaves_the_history_alone() -> None:
    order = new_order()
    order.cancel(NOW)
    with pytest.raises(InvalidTransition):
        order.fail("late", NOW)
    assert [t.status for t in order.history] == [OrderStatus.PENDING, OrderStatus.CANCELLED]
    assert order.failure_reason is None


def test_history_times_never_go_backwards_even_if_the_clock_does() -> None:
    order = new_order()
    order.start_processing(NOW - timedelta(seconds=5))
    assert order.history[1].at == NOW


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", ["pending"]),
        ("processing", ["pending", "processing"]),
        ("completed", ["pending", "processing", "completed"]),
        ("failed", ["pending", "processing", "failed"]),
        ("cancelled", ["pending", "cancelled"]),
    ],
)
def test_a_snapshot_without_history_gets_one_derived_from_its_timestamps(
    status: str, expected: list[str]
) -> None:
    snapshot = new_order().to_dict()
    del snapshot["history"]
    later = NOW + timedelta(minutes=1)
    snapshot.update(
        status=status,
        updated_at=later.isoformat(),
        failure_reason="out of stock" if status == "failed" else None,
    )

    order = Order.from_dict(snapshot)

    assert [t.status.value for t in order.history] == expected
    assert order.history[0].at == NOW
    assert all(t.at == later for t in order.history[1:])
    assert order.history[-1].reason == ("out of stock" if status == "failed" else None)
