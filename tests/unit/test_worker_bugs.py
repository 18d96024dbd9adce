"""A bug is not poison: an unexpected exception in processing is retried,
then the worker stops consuming that partition (nothing committed past the
message, nothing dead-lettered) while the other partitions keep flowing; a
worker started again with the fix completes the same orders."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest
from dependency_injector import providers

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.application.processing import OrderProcessor
from orderflow.domain.events import Event, OrderPlaced
from orderflow.domain.model import Order, OrderStatus, Product
from orderflow.ports.metrics import PARTITIONS_PAUSED, WORKER_BUGS
from tests.support.metrics import parse, value
from tests.unit.conftest import place_command
from tests.unit.journey import drain, memory_broker


class Bug:
    """Makes the processor raise an unforeseen error (a bug in a release) on
    every order holding `product`, until `fixed`."""

    def __init__(self, app: Orderflow, product: str) -> None:
        self.fixed = False
        self.calls = 0
        real = app.processor
        bug = self

        class Buggy(OrderProcessor):
            def handle_many(self, events: Sequence[Event]) -> list[Order | None]:
                hit = any(
                    isinstance(e, OrderPlaced)
                    and any(line["product_id"] == product for line in e.order["items"])
                    for e in events
                )
                if hit and not bug.fixed:
                    bug.calls += 1
                    raise RuntimeError("bug: this release cannot handle such orders")
                return super().handle_many(events)

        fields = {f.name: getattr(real, f.name) for f in dataclasses.fields(real)}
        app.container.processor.override(providers.Object(Buggy(**fields)))


@pytest.fixture
def app() -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", retry_backoff_ms=1
    )
    instance.catalog.upsert_many(
        [
            Product("mouse", "Mouse", "Wireless mouse", Decimal("19.90"), 1000),
            Product("lamp", "Lamp", "Desk lamp", Decimal("25.00"), 10),
        ]
    )
    yield instance
    instance.close()


def statuses(app: Orderflow, ids: Sequence[str]) -> list[OrderStatus]:
    return [app.queries.get(order_id).status for order_id in ids]


def test_a_bug_pauses_its_partition_dead_letters_nothing_and_the_fix_completes_the_orders(
    app: Orderflow, caplog: pytest.LogCaptureFixture
) -> None:
    bug = Bug(app, "lamp")
    buggy = str(app.placement.place(place_command(("lamp", 1))).order["id"])
    others = [str(app.placement.place(place_command(("mouse", 1))).order["id"]) for _ in range(40)]
    app.relay.drain_once()
    broker = memory_broker(app)
    partition = broker.partition_for(buggy)
    worker = app.new_worker(poll_timeout_s=0.01)

    with caplog.at_level(logging.ERROR, logger="orderflow.entrypoints.worker"):
        drain(app, worker)

    assert bug.calls == app.settings.max_attempts + 1  # the batch, then alone with retries
    assert broker.messages(app.topics.dlq) == []
    assert app.queries.get(buggy).status is OrderStatus.PENDING
    elsewhere = [i for i in others if broker.partition_for(i) != partition]
    behind = [i for i in others if broker.partition_for(i) == partition]
    assert elsewhere and behind, "40 orders over 6 partitions"
    assert set(statuses(app, elsewhere)) == {OrderStatus.COMPLETED}
    assert set(statuses(app, behind)) == {OrderStatus.PENDING}
    lag = broker.lag_by_partition(app.settings.consumer_group, app.topics.orders)
    assert lag[partition] == 1 + len(behind)  # nothing committed past the bug
    assert sum(lag.values()) == lag[partition]
    [record] = [r for r in caplog.records if "partition paused" in r.getMessage()]
    assert record.order_id == buggy  # type: ignore[attr-defined]
    samples, _ = parse(app.metrics_exposition().decode())
    assert value(samples, "orderflow_worker_bugs_total") == 1
    assert (
        value(samples, "orderflow_partitions_paused", topic="orders", partition=str(partition)) == 1
    )

    bug.fixed = True
    worker.close()  # the release with the fix: a new worker, the same group
    drain(app)

    assert app.queries.get(buggy).status is OrderStatus.COMPLETED
    assert set(statuses(app, behind)) == {OrderStatus.COMPLETED}
    assert broker.messages(app.topics.dlq) == []
    assert broker.lag(app.settings.consumer_group, app.topics.orders) == 0
    assert app.catalog.get("lamp").stock == 9


def test_a_worker_reports_its_paused_partitions(app: Orderflow) -> None:
    metrics = MemoryMetrics()
    app.container.metrics.override(providers.Object(metrics))
    Bug(app, "lamp")
    buggy = str(app.placement.place(place_command(("lamp", 1))).order["id"])
    app.relay.drain_once()
    worker = app.new_worker(poll_timeout_s=0.01)

    drain(app, worker)

    place = ("orders", memory_broker(app).partition_for(buggy))
    assert worker.paused() == {place}
    assert metrics.count(WORKER_BUGS) == 1
    assert metrics.value(PARTITIONS_PAUSED, topic=place[0], partition=str(place[1])) == 1


def test_an_order_a_domain_rule_refuses_just_fails_and_nothing_pauses(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("lamp", 11)))  # 10 in stock
    worker = app.new_worker(poll_timeout_s=0.01)

    drain(app, worker)

    order = app.queries.get(str(placed.order["id"]))
    assert order.status is OrderStatus.FAILED
    assert "insufficient stock" in (order.failure_reason or "")
    assert worker.paused() == frozenset()
    assert memory_broker(app).messages(app.topics.dlq) == []
