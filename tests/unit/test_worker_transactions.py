"""The worker emits each finished order's status event in one broker
transaction with the offsets it consumed (MessageConsumer.commit_with), on
the in-process broker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from orderflow import Orderflow
from orderflow.adapters.memory.broker import MemoryBroker, MemoryConsumer, MemoryPublisher
from orderflow.application import processing
from orderflow.application.processing import status_event
from orderflow.domain.errors import BrokerUnavailable
from orderflow.domain.events import OrderCompleted, OrderFailed, OrderProcessingStarted
from orderflow.domain.model import Customer, Order, OrderLine, OrderStatus, PaymentMethod
from orderflow.entrypoints.worker import RetryPolicy, Worker
from orderflow.ports.messaging import Delivery
from orderflow.ports.outbox import OutboxMessage
from tests.unit.conftest import place_command
from tests.unit.journey import drain, process

STATUS_TYPES = ("OrderCompleted", "OrderFailed")
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FailingCommits(MemoryConsumer):
    """A group member whose next `failures` commit_with calls fail, as they do
    when the broker goes away mid-transaction: nothing is committed."""

    def __init__(self, broker: MemoryBroker, *, group: str, topics: Sequence[str]) -> None:
        super().__init__(broker, group=group, topics=topics)
        self.failures = 0
        self.attempts = 0

    def commit_with(
        self, *, messages: Sequence[OutboxMessage], deliveries: Sequence[Delivery]
    ) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise BrokerUnavailable("transaction aborted (injected)")
        super().commit_with(messages=messages, deliveries=deliveries)


def broker(app: Orderflow) -> MemoryBroker:
    instance = app.container.memory_broker()
    assert isinstance(instance, MemoryBroker)
    return instance


def envelopes(app: Orderflow, topic: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in broker(app).messages(topic)]


def status_events(app: Orderflow) -> list[dict[str, Any]]:
    return [e for e in envelopes(app, app.topics.events) if e["type"] in STATUS_TYPES]


def lag(app: Orderflow) -> int:
    return broker(app).lag(app.settings.consumer_group, app.topics.orders)


def worker_on(app: Orderflow, consumer: MemoryConsumer) -> Worker:
    return Worker(
        consumer=consumer,
        processor=app.processor,
        codec=app.codec,
        clock=app.clock,
        metrics=app.metrics,
        topics=app.topics,
        retry=RetryPolicy(initial_backoff_s=0.001, outage_pause_s=0),
        poll_timeout_s=0.01,
    )


@pytest.fixture
def failing(app: Orderflow) -> FailingCommits:
    return FailingCommits(
        broker(app), group=app.settings.consumer_group, topics=[app.topics.orders]
    )


def test_a_processed_order_yields_one_order_completed_and_its_offset_committed(
    app: Orderflow,
) -> None:
    placed = app.placement.place(place_command(("mouse", 2)))
    order_id = str(placed.order["id"])

    drain(app)

    order = app.queries.get(order_id)
    assert order.status is OrderStatus.COMPLETED
    [event] = status_events(app)
    assert (event["type"], event["key"]) == ("OrderCompleted", order_id)
    expected = status_event(order)
    assert expected is not None
    assert event["event_id"] == expected.event_id
    assert event["data"]["total"] == "39.80"
    assert lag(app) == 0
    # OrderProcessingStarted comes from the worker too, just before it, with
    # the id and time status_events derives from the stored order.
    mine = [e for e in envelopes(app, app.topics.events) if e["key"] == order_id]
    assert [e["type"] for e in mine] == ["OrderProcessingStarted", "OrderCompleted"]
    started, _ = processing.status_events(order)
    assert mine[0]["event_id"] == started.event_id
    assert mine[0]["data"]["occurred_at"] == started.occurred_at.isoformat()


def test_a_failed_order_yields_order_failed_with_its_reason(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("lamp", 4)))

    drain(app)

    [event] = status_events(app)
    assert (event["type"], event["key"]) == ("OrderFailed", placed.order["id"])
    assert "insufficient stock" in event["data"]["reason"]
    assert lag(app) == 0


def test_status_events_no_longer_go_through_the_outbox(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    process(app.processor, placed.order)

    with app.uow_factory() as uow:
        types = [m.type_name for m in uow.outbox.claim_batch(limit=100)]

    assert types == ["OrderPlaced", "Notification"]


def test_a_duplicated_delivery_re_emits_the_same_event_and_takes_no_more_stock(
    app: Orderflow,
) -> None:
    before = app.catalog.get("mouse").stock
    placed = app.placement.place(place_command(("mouse", 1)))
    order_id = str(placed.order["id"])
    drain(app)
    [original] = broker(app).messages(app.topics.orders)

    broker(app).append(app.topics.orders, order_id, original)  # the broker duplicated it
    drain(app)

    first, again = status_events(app)
    assert first == again, "the same event: same id, same content"
    events = envelopes(app, app.topics.events)
    started = [e for e in events if e["type"] == "OrderProcessingStarted"]
    assert len(started) == 2 and started[0] == started[1]
    assert app.catalog.get("mouse").stock == before - 1
    assert lag(app) == 0


def test_duplicates_within_one_batch_emit_the_status_event_once(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    app.relay.drain_once()
    [original] = broker(app).messages(app.topics.orders)
    broker(app).append(app.topics.orders, str(placed.order["id"]), original)

    drain(app)

    assert len(status_events(app)) == 1
    assert lag(app) == 0


def test_a_failed_commit_leaves_the_offset_uncommitted_and_the_delivery_comes_again(
    app: Orderflow, failing: FailingCommits
) -> None:
    before = app.catalog.get("mouse").stock
    placed = app.placement.place(place_command(("mouse", 1)))
    order_id = str(placed.order["id"])
    app.relay.drain_once()
    worker = worker_on(app, failing)
    failing.failures = 1

    assert worker.run_once() == 0

    # The database effect is durable, but neither the offset nor the event
    # reached the broker.
    assert app.queries.get(order_id).status is OrderStatus.COMPLETED
    assert lag(app) == 1
    assert status_events(app) == []

    assert worker.run_once() == 1  # delivered again, found done, emitted now

    [event] = status_events(app)
    assert event["key"] == order_id
    assert lag(app) == 0
    assert app.catalog.get("mouse").stock == before - 1
    assert failing.attempts == 2
    worker.close()


def test_after_a_failed_commit_another_member_gets_the_delivery(
    app: Orderflow, failing: FailingCommits
) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    app.relay.drain_once()
    first = worker_on(app, failing)
    failing.failures = 1
    assert first.run_once() == 0
    first.close()  # leaves the group: its partitions go to the next member

    drain(app)

    [event] = status_events(app)
    assert event["key"] == placed.order["id"]
    assert lag(app) == 0


def test_a_dead_letter_is_committed_with_the_offsets_or_not_at_all(
    app: Orderflow, failing: FailingCommits
) -> None:
    broker(app).append(app.topics.orders, "k", b"{not json")
    worker = worker_on(app, failing)
    failing.failures = 1

    assert worker.run_once() == 0
    assert broker(app).messages(app.topics.dlq) == []
    assert lag(app) == 1

    assert worker.run_once() == 1
    assert len(broker(app).messages(app.topics.dlq)) == 1
    assert status_events(app) == []
    assert lag(app) == 0
    worker.close()


def test_a_broker_outage_while_polling_pauses_the_worker_instead_of_ending_it(
    app: Orderflow,
) -> None:
    class FailingPolls(MemoryConsumer):
        polls = 0

        def poll(self, *, max_messages: int, timeout_s: float) -> list[Delivery]:
            self.polls += 1
            if self.polls == 1:
                raise BrokerUnavailable("broker away (injected)")
            worker.stop()
            return super().poll(max_messages=max_messages, timeout_s=timeout_s)

    consumer = FailingPolls(
        broker(app), group=app.settings.consumer_group, topics=[app.topics.orders]
    )
    worker = worker_on(app, consumer)

    worker.run()

    assert consumer.polls == 2


# --- the memory broker's commit_with ---------------------------------------------


def message(topic: str, key: str) -> OutboxMessage:
    return OutboxMessage(
        message_id=f"{key}-event",
        topic=topic,
        key=key,
        type_name="OrderCompleted",
        payload={"order_id": key},
        created_at=T0,
    )


def test_memory_commit_with_publishes_and_commits_together() -> None:
    memory = MemoryBroker(partitions=2)
    MemoryPublisher(memory).publish([message("in", "a"), message("in", "b")])
    consumer = MemoryConsumer(memory, group="g", topics=["in"])
    deliveries = consumer.poll(max_messages=10, timeout_s=0)

    consumer.commit_with(messages=[message("out", "a")], deliveries=deliveries)

    assert len(memory.messages("out")) == 1
    assert memory.lag("g", "in") == 0


def test_memory_commit_with_on_a_closed_broker_does_neither() -> None:
    memory = MemoryBroker()
    MemoryPublisher(memory).publish([message("in", "a")])
    consumer = MemoryConsumer(memory, group="g", topics=["in"])
    deliveries = consumer.poll(max_messages=10, timeout_s=0)
    memory.close()

    with pytest.raises(BrokerUnavailable):
        consumer.commit_with(messages=[message("out", "a")], deliveries=deliveries)


# --- the status event ------------------------------------------------------------


def an_order() -> Order:
    return Order.place(
        order_id="3f0c7a52-8f0e-4b8e-9a55-0d6a3c1e7b21",
        customer=Customer("Ada Lovelace", "ada@example.com", "12 Analytical St"),
        items=(OrderLine("mouse", 2, Decimal("19.90")),),
        payment_method=PaymentMethod.CARD,
        now=T0,
    )


def test_an_unfinished_or_cancelled_order_has_no_status_event() -> None:
    order = an_order()
    assert status_event(order) is None
    order.cancel(T0)
    assert status_event(order) is None


def test_the_status_event_is_a_function_of_the_stored_order() -> None:
    order = an_order()
    order.start_processing(T0)
    order.complete(T0)

    event = status_event(order)
    again = status_event(Order.from_dict(order.to_dict()))

    assert isinstance(event, OrderCompleted)
    assert event == again
    assert (event.total, event.occurred_at) == ("39.80", order.updated_at)


def test_completed_and_failed_events_of_one_order_have_different_ids() -> None:
    completed, failed = an_order(), an_order()
    for order in (completed, failed):
        order.start_processing(T0)
    completed.complete(T0)
    failed.fail("insufficient stock for product mouse", T0)

    done, not_done = status_event(completed), status_event(failed)

    assert isinstance(not_done, OrderFailed)
    assert not_done.reason == "insufficient stock for product mouse"
    assert done is not None and done.event_id != not_done.event_id


def test_a_cancelled_order_keeps_the_status_events_of_the_steps_it_reached() -> None:
    order = an_order()
    order.start_processing(T0)
    order.complete(T0)
    before = processing.status_events(order)
    order.cancel(T0)
    after = processing.status_events(order)

    assert [type(e) for e in after] == [OrderProcessingStarted, OrderCompleted]
    assert after == before  # the same events, ids and times
    assert status_event(order) is None  # its own event is OrderCancelled, from the outbox
