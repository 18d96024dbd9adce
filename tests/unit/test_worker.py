from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from orderflow import Orderflow
from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.model import OrderStatus, Product
from orderflow.entrypoints.dead_letters import original_value
from orderflow.entrypoints.logs import JsonFormatter
from tests.unit.conftest import place_command
from tests.unit.faults import FlakyUnitOfWorkFactory
from tests.unit.journey import app_over, drain, memory_broker


@pytest.fixture
def flaky() -> FlakyUnitOfWorkFactory:
    return FlakyUnitOfWorkFactory(MemoryUnitOfWorkFactory())


@pytest.fixture
def app(flaky: FlakyUnitOfWorkFactory) -> Iterator[Orderflow]:
    instance = app_over(flaky, Product("mouse", "Mouse", "", Decimal("10.00"), 5))
    yield instance
    instance.close()


def broker(app: Orderflow) -> MemoryBroker:
    return memory_broker(app)


def dead_letters(app: Orderflow) -> list[dict[str, object]]:
    return [json.loads(raw)["data"] for raw in broker(app).messages(app.topics.dlq)]


@pytest.mark.parametrize(
    "poison",
    [
        b"\xff\xfe not even utf-8",
        b"{not json",
        b"[1, 2, 3]",
        json.dumps({"type": "OrderPlaced", "schema_version": 99, "data": {}}).encode(),
        json.dumps({"type": "Teleported", "schema_version": 1, "data": {}}).encode(),
        json.dumps(
            {"type": "OrderPlaced", "schema_version": 1, "data": {"order_id": "x"}}
        ).encode(),
    ],
)
def test_a_poison_message_goes_to_the_dlq_once_with_its_payload(
    app: Orderflow, poison: bytes
) -> None:
    broker(app).append(app.topics.orders, "k", poison)
    drain(app)
    letters = dead_letters(app)
    assert len(letters) == 1
    assert original_value(letters[0]) == poison
    assert letters[0]["attempts"] == 1
    assert letters[0]["error"]
    assert "failed_at" in letters[0]
    assert broker(app).lag(app.settings.consumer_group, app.topics.orders) == 0


def test_a_transient_error_is_retried_and_then_succeeds(
    app: Orderflow, flaky: FlakyUnitOfWorkFactory
) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    app.relay.drain_once()
    worker = app.new_worker(poll_timeout_s=0.01)
    flaky.failures = 1
    assert worker.run_once() == 1
    drain(app, worker)
    assert app.queries.get(str(placed.order["id"])).status is OrderStatus.COMPLETED
    assert dead_letters(app) == []


def test_a_database_outage_pauses_the_worker_instead_of_dead_lettering(
    app: Orderflow, flaky: FlakyUnitOfWorkFactory
) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    app.relay.drain_once()
    worker = app.new_worker(poll_timeout_s=0.01)
    worker._retry = worker._retry.__class__(attempts=3, initial_backoff_s=0.001, outage_pause_s=0)
    flaky.failures = 6  # every retry of two polls
    for _ in range(2):
        assert worker.run_once() == 0
    assert dead_letters(app) == []
    drain(app, worker)
    assert app.queries.get(str(placed.order["id"])).status is OrderStatus.COMPLETED
    assert app.catalog.get("mouse").stock == 4


def test_with_the_database_down_intake_publishes_to_the_broker_and_the_worker_persists(
    app: Orderflow, flaky: FlakyUnitOfWorkFactory
) -> None:
    app.placement.place(place_command(("mouse", 1)))  # the catalog price is now known
    drain(app)
    flaky.failures = 10**6
    placed = app.placement.place(place_command(("mouse", 2), key="retry-me"))
    again = app.placement.place(place_command(("mouse", 2), key="retry-me"))
    assert placed.created and placed.order["status"] == "pending"
    assert again.order["id"] == placed.order["id"]  # the key fixes the id
    flaky.failures = 0
    drain(app)
    order = app.queries.get(str(placed.order["id"]))
    assert order.status is OrderStatus.COMPLETED
    assert app.catalog.get("mouse").stock == 2  # 5 - 1 - 2: the duplicate took nothing
    replay = app.placement.place(place_command(("mouse", 2), key="retry-me"))
    assert not replay.created and replay.order["id"] == placed.order["id"]


def test_with_the_database_down_an_unpriced_product_is_refused(
    app: Orderflow, flaky: FlakyUnitOfWorkFactory
) -> None:
    flaky.failures = 10**6
    with pytest.raises(StorageUnavailable):
        app.placement.place(place_command(("mouse", 1)))


def test_a_batch_that_outlasts_its_time_budget_commits_what_is_done(app: Orderflow) -> None:
    ids = [str(app.placement.place(place_command(("mouse", 1))).order["id"]) for _ in range(3)]
    app.relay.drain_once()
    worker = app.new_worker(poll_timeout_s=0.01, max_batch_s=0.0)
    # With no time budget each poll settles exactly one delivery; the rest
    # are rewound and come again, none lost, none doubled.
    assert [worker.run_once() for _ in range(3)] == [1, 1, 1]
    assert worker.run_once() == 0
    assert {app.queries.get(i).status for i in ids} == {OrderStatus.COMPLETED}
    assert app.catalog.get("mouse").stock == 2


def test_the_dead_letter_log_line_is_json_carrying_the_order_id(
    app: Orderflow, caplog: pytest.LogCaptureFixture
) -> None:
    broker(app).append(app.topics.orders, "order-42", b"{not json")
    with caplog.at_level(logging.ERROR, logger="orderflow.entrypoints.worker"):
        drain(app)
    [record] = [r for r in caplog.records if r.getMessage().startswith("dead-lettering")]
    line = json.loads(JsonFormatter().format(record))
    assert line["order_id"] == "order-42"
    assert line["level"] == "error"
