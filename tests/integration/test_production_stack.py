"""The production arrangement end to end, per source of truth: `orderflow
api` (granian), one relay and two worker processes, on a real Kafka-protocol
broker and Redis, each in its own OS process, driven over real HTTP.

200 orders go in; every one must reach completed or failed exactly once,
stock must fall by exactly the completed quantities, the orders topic must
carry the envelope, and Redis must hold each order with a TTL near 3600 s."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer

import orderflow
from orderflow.adapters.envelope import CURRENT
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.model import OrderStatus
from tests.support import services
from tests.support.stack import Stack, stack_env
from tests.support.stack import http_call as call

ORDERS = 200
CATALOG = [
    {
        "id": "p-plenty",
        "name": "Plenty",
        "description": "never runs out",
        "price": "5.00",
        "stock": 100_000,
    },
    {"id": "p-scarce", "name": "Scarce", "description": "runs out", "price": "12.50", "stock": 40},
    {"id": "p-rare", "name": "Rare", "description": "almost none", "price": "99.99", "stock": 7},
]


@pytest.fixture(params=["mariadb", "mongodb"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "mariadb":
        service = services.ensure_mariadb()
        try:
            yield service.url
        finally:
            service.stop()
    else:
        server = request.getfixturevalue("mongo_url").rstrip("/")
        yield f"{server}/orderflow_stack_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def stack(
    database_url: str, kafka_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Stack, dict[str, str]]]:
    env = stack_env(database_url=database_url, broker_url=kafka_url, cache_url=redis_url)
    stack = Stack(env, tmp_path)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    stack.run("migrate")
    stack.run("seed", str(catalog))
    stack.spawn("api", "api", "--port", str(stack.port), "--workers", "1")
    stack.spawn("relay", "relay")
    stack.spawn("worker-1", "worker")
    stack.spawn("worker-2", "worker")
    try:
        stack.wait_ready()
        yield stack, env
    finally:
        stack.stop()


def order_request(index: int) -> dict[str, Any]:
    items = [{"product_id": "p-plenty", "quantity": 1 + index % 3}]
    if index % 2 == 0:
        items.append({"product_id": "p-scarce", "quantity": 1 + index % 2})
    if index % 5 == 0:
        items.append({"product_id": "p-rare", "quantity": 1})
    return {
        "customer": {
            "name": f"Customer {index}",
            "email": f"c{index}@example.com",
            "address": f"{index} Test Street",
        },
        "items": items,
        "payment_method": ["card", "paypal", "bank_transfer", "cash_on_delivery"][index % 4],
    }


def test_two_hundred_orders_through_api_relay_and_two_workers(
    stack: tuple[Stack, dict[str, str]],
) -> None:
    server, env = stack

    def place(index: int) -> dict[str, Any]:
        status, body = call("POST", f"{server.base}/api/orders", order_request(index))
        assert status == 201, body
        return body

    with ThreadPoolExecutor(8) as pool:
        placed = list(pool.map(place, range(ORDERS)))
    ids = [body["id"] for body in placed]
    assert len(set(ids)) == ORDERS

    app = orderflow.bootstrap(database_url=env["ORDERFLOW_DATABASE_URL"])
    try:
        deadline = time.monotonic() + 120
        while True:
            with app.uow_factory() as uow:
                unfinished = uow.orders.list_stuck(
                    statuses=[OrderStatus.PENDING, OrderStatus.PROCESSING],
                    older_than=datetime.now(UTC) + timedelta(days=1),
                    limit=ORDERS,
                )
            if not unfinished:
                break
            assert time.monotonic() < deadline, f"{len(unfinished)} unfinished\n{server.logs()}"
            time.sleep(0.5)

        with app.uow_factory() as uow:
            orders = [uow.orders.get(order_id) for order_id in ids]
            stock = {p["id"]: uow.products.get(str(p["id"])) for p in CATALOG}
    finally:
        app.close()

    assert all(o is not None for o in orders)
    finished = [o for o in orders if o is not None]
    statuses = {o.status for o in finished}
    assert statuses <= {OrderStatus.COMPLETED, OrderStatus.FAILED}
    assert OrderStatus.COMPLETED in statuses and OrderStatus.FAILED in statuses
    # pending -> processing -> terminal: every order moved exactly twice.
    assert {o.version for o in finished} == {3}
    for product in CATALOG:
        taken = sum(
            line.quantity
            for o in finished
            if o.status is OrderStatus.COMPLETED
            for line in o.items
            if line.product_id == product["id"]
        )
        current = stock[str(product["id"])]
        assert current is not None
        assert current.stock == int(str(product["stock"])) - taken >= 0
        assert current.price == Decimal(str(product["price"]))

    # The orders topic carries the envelope, keyed by order id.
    consumer = KafkaConsumer(
        env["ORDERFLOW_ORDERS_TOPIC"],
        bootstrap_servers=bootstrap_servers(env["ORDERFLOW_BROKER_URL"]),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    try:
        records = [
            record for _, batch in consumer.poll(timeout_ms=10_000).items() for record in batch
        ]
    finally:
        consumer.close()
    assert records
    envelope = json.loads(records[0].value)
    assert {"type", "schema_version", "event_id", "occurred_at", "data"} <= set(envelope)
    assert envelope["type"] == "OrderPlaced" and envelope["schema_version"] == str(CURRENT)
    assert records[0].key.decode() == envelope["data"]["order_id"]

    # Each processed order was written through to Redis with a TTL near 3600 s.
    client = redis.Redis.from_url(env["ORDERFLOW_CACHE_URL"])
    try:
        for order_id in ids[:20]:
            cached = client.get(f"order:{order_id}")
            assert cached is not None
            assert json.loads(cached)["status"] in ("completed", "failed")
            assert 3500 <= client.ttl(f"order:{order_id}") <= 3600
    finally:
        client.close()


def test_an_undecodable_message_lands_on_the_dlq_once_and_work_goes_on(
    stack: tuple[Stack, dict[str, str]],
) -> None:
    server, env = stack
    servers = bootstrap_servers(env["ORDERFLOW_BROKER_URL"])
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    try:
        producer.send(env["ORDERFLOW_ORDERS_TOPIC"], key=b"poison", value=b"\x00{not json")
        producer.flush(10)
    finally:
        producer.close()

    # A good order placed after the poison still completes: nothing is wedged.
    status, order = call("POST", f"{server.base}/api/orders", order_request(1))
    assert status == 201
    deadline = time.monotonic() + 60
    owner = {"Authorization": f"Bearer {order['access_token']}"}
    while call("GET", f"{server.base}/api/orders/{order['id']}", headers=owner)[1]["status"] != (
        "completed"
    ):
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.2)

    consumer = KafkaConsumer(
        env["ORDERFLOW_DLQ_TOPIC"],
        bootstrap_servers=servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        letters: list[Any] = []  # kafka-python ConsumerRecords
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not letters:
            letters = [r for batch in consumer.poll(timeout_ms=1000).values() for r in batch]
        time.sleep(2)  # anything retried would show up as a second letter
        letters += [r for batch in consumer.poll(timeout_ms=2000).values() for r in batch]
    finally:
        consumer.close()
    assert len(letters) == 1, server.logs()
    data = json.loads(letters[0].value)["data"]
    assert data["original_text"].endswith("{not json")
    assert "PermanentMessageError" in data["error"]
    assert data["attempts"] == 1
