"""Envelope versions (docs/EVENTS.md): a worker processes messages of the
previous version and of a newer minor carrying fields it does not know, and
dead-letters an unknown major version with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orderflow import Orderflow
from orderflow.adapters.envelope import CURRENT, SchemaVersion, decode, encode
from orderflow.application.messages import Topics, to_outbox
from orderflow.domain.errors import PermanentMessageError
from orderflow.domain.events import OrderCancelled, OrderFailed, OrderPlaced
from orderflow.domain.model import Order, OrderStatus
from orderflow.entrypoints.dead_letters import original_value
from tests.unit.conftest import place_command
from tests.unit.journey import drain, memory_broker

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def unpublished(app: Orderflow, *lines: tuple[str, int]) -> dict[str, Any]:
    """The envelope of an OrderPlaced this release would publish, as a dict
    (the order is not stored: the worker persists it from the message)."""
    placed = app.placement.place(place_command(*lines))
    order = Order.from_dict(placed.order)
    order.id = order.id[:-4] + "beef"  # another id: not the stored order
    snapshot = order.to_dict()
    [message] = to_outbox([OrderPlaced.of(Order.from_dict(snapshot))], topics=app.topics)
    envelope: dict[str, Any] = json.loads(encode(message))
    return envelope


def publish(app: Orderflow, envelope: dict[str, Any]) -> bytes:
    raw = json.dumps(envelope).encode()
    memory_broker(app).append(app.topics.orders, envelope["key"], raw)
    return raw


def dead_letters(app: Orderflow) -> list[dict[str, Any]]:
    return [json.loads(raw)["data"] for raw in memory_broker(app).messages(app.topics.dlq)]


def test_this_release_writes_major_dot_minor() -> None:
    assert str(CURRENT) == "1.3"


def test_a_worker_processes_a_message_of_the_previous_version(app: Orderflow) -> None:
    envelope = unpublished(app, ("mouse", 2))
    envelope["schema_version"] = 1  # as releases before minors wrote it: 1.0
    publish(app, envelope)

    drain(app)

    assert app.queries.get(envelope["key"]).status is OrderStatus.COMPLETED
    assert dead_letters(app) == []


def test_a_worker_processes_a_newer_minor_and_ignores_the_fields_it_does_not_know(
    app: Orderflow,
) -> None:
    envelope = unpublished(app, ("mouse", 2))
    envelope["schema_version"] = "1.7"
    envelope["trace_id"] = "abc"
    envelope["data"]["channel"] = "mobile"
    envelope["data"]["order"]["gift_wrap"] = True
    envelope["data"]["order"]["items"][0]["colour"] = "red"
    envelope["data"]["order"]["customer"]["phone"] = "+44 20 0000 0000"
    publish(app, envelope)

    drain(app)

    order = app.queries.get(envelope["key"])
    assert order.status is OrderStatus.COMPLETED
    assert order.items[0].quantity == 2
    assert dead_letters(app) == []


def test_an_unknown_major_version_is_dead_lettered_with_the_reason(app: Orderflow) -> None:
    envelope = unpublished(app, ("mouse", 2))
    envelope["schema_version"] = "2.0"
    raw = publish(app, envelope)

    drain(app)

    [letter] = dead_letters(app)
    assert original_value(letter) == raw
    assert "unknown major schema version 2.0" in str(letter["error"])
    assert "reads 1.x" in str(letter["error"])
    assert app.catalog.get("mouse").stock == 98  # only the stored order took stock


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["order"]["items"][0].update(quantity="2"), "order.items.0.quantity"),
        (lambda d: d["order"]["items"][0].update(quantity=0), "order.items.0.quantity"),
        (lambda d: d["order"].update(payment_method="gold"), "order.payment_method"),
        (lambda d: d["order"].update(created_at="yesterday"), "order.created_at"),
        (lambda d: d["order"].update(total="lots"), "order.total"),
        (lambda d: d["order"].pop("customer"), "order.customer"),
        (lambda d: d.pop("occurred_at"), "occurred_at"),
    ],
)
def test_data_invalid_against_the_schema_is_dead_lettered_naming_the_field_not_the_value(
    app: Orderflow, change: Any, where: str
) -> None:
    envelope = unpublished(app, ("mouse", 2))
    change(envelope["data"])
    publish(app, envelope)

    drain(app)

    [letter] = dead_letters(app)
    assert where in str(letter["error"])
    assert "gold" not in str(letter["error"]) and "yesterday" not in str(letter["error"])


@pytest.mark.parametrize("version", [None, "1", "one.two", "1.x", True, -1, 1.5])
def test_a_version_that_is_not_major_dot_minor_is_permanent(version: object) -> None:
    with pytest.raises(PermanentMessageError, match=r"MAJOR\.MINOR"):
        SchemaVersion.of(version)


def test_versions_compare_by_major_then_minor() -> None:
    assert SchemaVersion.of(1) == SchemaVersion(1, 0) < SchemaVersion.of("1.10")
    assert SchemaVersion.of("1.10") < SchemaVersion.of("2.0")


def test_decode_upcasts_with_the_steps_it_is_given() -> None:
    seen: list[str] = []

    def step(envelope: dict[str, Any]) -> dict[str, Any]:
        seen.append(envelope["schema_version"])
        envelope["data"]["reason"] = envelope["data"].pop("why")
        return envelope

    old = {
        "type": "OrderFailed",
        "schema_version": "3.4",
        "data": {
            "order_id": "o-1",
            "occurred_at": "2026-01-02T03:04:05+00:00",
            "event_id": "e-1",
            "why": "out of stock",
        },
    }
    event = decode(
        json.dumps(old).encode(),
        current=SchemaVersion(4, 0),
        upcasters={SchemaVersion(3, 4): (SchemaVersion(4, 0), step)},
    )

    assert seen == ["3.4"]
    assert isinstance(event, OrderFailed) and event.reason == "out of stock"


def test_a_1_1_order_placed_without_owner_or_token_is_processed(app: Orderflow) -> None:
    envelope = unpublished(app, ("mouse", 1))
    envelope["schema_version"] = "1.1"
    for field in ("owner", "access_token_digest"):
        envelope["data"]["order"].pop(field, None)
    publish(app, envelope)

    drain(app)

    order = app.queries.get(envelope["data"]["order_id"])
    assert order.status.value == "completed"
    assert (order.owner, order.access_token_digest) == (None, None)


def test_an_order_cancelled_of_1_2_reads_as_having_restocked_nothing() -> None:
    envelope = {
        "type": "OrderCancelled",
        "schema_version": "1.2",
        "event_id": "e-1",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "key": "o-1",
        "data": {"order_id": "o-1", "occurred_at": "2026-01-01T00:00:00+00:00", "event_id": "e-1"},
    }

    event = decode(json.dumps(envelope).encode())

    assert isinstance(event, OrderCancelled) and event.restocked == []
    envelope["schema_version"] = "1.3"  # this release's: restocked is required
    with pytest.raises(PermanentMessageError, match="restocked"):
        decode(json.dumps(envelope).encode())


def test_an_order_cancelled_carries_what_it_restocked_through_the_envelope() -> None:
    restocked = [{"product_id": "mouse", "quantity": 2}]
    cancelled = OrderCancelled(order_id="o-1", occurred_at=T0, restocked=restocked)
    [message] = to_outbox([cancelled], topics=Topics())

    event = decode(encode(message))

    assert isinstance(event, OrderCancelled) and event.restocked == restocked
