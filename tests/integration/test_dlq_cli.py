"""`orderflow dlq` against a real Kafka-protocol broker, as an operator runs
it (a separate process): an order published by a newer release (an unknown
major schema version) is dead-lettered; once the workers are upgraded,
`dlq replay` brings it back and it completes; `dlq purge` empties the list,
and poison that cannot be fixed is listed as it came. A bug, by contrast,
is never dead-lettered: it pauses its partition until a fixed worker runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

import orderflow
from orderflow import Orderflow
from orderflow.adapters.kafka.admin import ensure_topics
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import OrderNotFound
from orderflow.domain.model import OrderStatus, Product
from tests.unit.conftest import place_command
from tests.unit.test_dlq import newer_release_message, upgrade_workers_to_read_v2
from tests.unit.test_worker_bugs import Bug

ORDERFLOW = str(Path(sys.executable).with_name("orderflow"))


@pytest.fixture
def settings(kafka_url: str, tmp_path: Path) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'dlq.sqlite3'}",
        "ORDERFLOW_BROKER_URL": kafka_url,
        "ORDERFLOW_CACHE_URL": "memory://",
        "ORDERFLOW_NOTIFY_URL": "memory://",
        "ORDERFLOW_ORDERS_TOPIC": f"orders-{suffix}",
        "ORDERFLOW_EVENTS_TOPIC": f"order-events-{suffix}",
        "ORDERFLOW_DLQ_TOPIC": f"orders-{suffix}.DLQ",
        "ORDERFLOW_CONSUMER_GROUP": f"workers-{suffix}",
        "ORDERFLOW_PARTITIONS": "2",
    }


@pytest.fixture
def env(settings: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **settings}


@pytest.fixture
def app(settings: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Orderflow]:
    for name, value in settings.items():  # read as the `orderflow` commands read them
        monkeypatch.setenv(name, value)
    instance = orderflow.bootstrap()
    instance.migrate()
    topics = [instance.topics.orders, instance.topics.events, instance.topics.dlq]
    ensure_topics(settings["ORDERFLOW_BROKER_URL"], topics, partitions=2)
    instance.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 5)])
    yield instance
    instance.close()


class Background:
    """A worker thread of the app's consumer group."""

    def __init__(self, app: Orderflow) -> None:
        self.worker = app.new_worker(poll_timeout_s=0.2)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(30)


def dlq(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [ORDERFLOW, "dlq", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def listed(env: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in dlq(env, "list", "--json").splitlines() if line]


def status_of(app: Orderflow, order_id: str) -> OrderStatus | None:
    try:
        return app.queries.get(order_id).status
    except OrderNotFound:
        return None


def wait_for(condition: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_dead_lettered_order_completes_after_the_fix_and_a_replay(
    app: Orderflow, env: dict[str, str]
) -> None:
    order_id, newer = newer_release_message(app, 2)
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(env["ORDERFLOW_BROKER_URL"]))
    producer.send(env["ORDERFLOW_ORDERS_TOPIC"], key=order_id.encode(), value=newer)
    producer.send(env["ORDERFLOW_ORDERS_TOPIC"], key=b"poison", value=b"\x00 not an event")
    producer.flush(10)
    producer.close()

    with Background(app):
        wait_for(lambda: len(listed(env)) == 2)
        letters = {entry["key"]: entry for entry in listed(env)}
        assert "unknown major schema version 2.0" in letters[order_id]["error"]
        assert letters[order_id]["attempts"] == 1
        assert "PermanentMessageError" in letters["poison"]["error"]
        assert letters["poison"]["original_text"].endswith("not an event")
        assert "POSITION" in dlq(env, "list")

    with pytest.raises(OrderNotFound):
        app.queries.get(order_id)  # never stored: no worker could read it
    upgrade_workers_to_read_v2(app)
    with Background(app):
        assert "replayed 1 " in dlq(env, "replay", "--key", order_id)
        wait_for(lambda: status_of(app, order_id) is OrderStatus.COMPLETED)

    assert app.catalog.get("mouse").stock == 3
    assert len(listed(env)) == 2  # replay does not purge
    assert "purged 2 " in dlq(env, "purge", "--all", "--yes")
    assert listed(env) == []
    assert "empty" in dlq(env, "list")


def test_a_bug_pauses_its_partition_on_kafka_and_a_fixed_worker_completes_the_order(
    app: Orderflow, env: dict[str, str]
) -> None:
    bug = Bug(app, "mouse")
    placed = app.placement.place(place_command(("mouse", 2)))
    order_id = str(placed.order["id"])
    assert app.relay.drain_once() == 1

    with Background(app) as running:
        wait_for(lambda: running.worker.paused() != frozenset())
        assert len(running.worker.paused()) == 1
        assert app.queries.get(order_id).status is OrderStatus.PENDING

    assert listed(env) == []  # nothing dead-lettered
    bug.fixed = True
    with Background(app):  # the release with the fix: a new member of the group
        wait_for(lambda: app.queries.get(order_id).status is OrderStatus.COMPLETED)
    assert app.catalog.get("mouse").stock == 3
    assert listed(env) == []
