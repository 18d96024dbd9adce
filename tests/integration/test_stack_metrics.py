"""/metrics on the production arrangement after a run: `orderflow api` with
two granian processes (multiprocess metrics), a relay and a worker each
serving its own /metrics, on Kafka (Tansu), MariaDB and Redis."""

from __future__ import annotations

import os
import secrets
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import orderflow
from orderflow.entrypoints.catalog_files import parse_rows
from tests.integration.test_embedded_serve import call, free_port
from tests.integration.test_production_stack import CATALOG, order_request
from tests.support import services
from tests.support.metrics import Samples, parse, total, value
from tests.support.stack import Stack

ORDERS = 20


def request(index: int) -> dict[str, object]:
    """Every third order wants 3 of the 7 rare items: some fail."""
    body = order_request(index)
    if index % 3 == 0:
        body["items"] = [{"product_id": "p-rare", "quantity": 3}]
    return body


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return parse(response.read().decode())[0]


@pytest.fixture
def metered_stack(
    kafka_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Stack, dict[str, int]]]:
    database = services.ensure_mariadb()
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "ORDERFLOW_DATABASE_URL": database.url,
        "ORDERFLOW_BROKER_URL": kafka_url,
        "ORDERFLOW_CACHE_URL": redis_url,
        "ORDERFLOW_ORDERS_TOPIC": f"orders-{suffix}",
        "ORDERFLOW_EVENTS_TOPIC": f"order-events-{suffix}",
        "ORDERFLOW_DLQ_TOPIC": f"orders-{suffix}.DLQ",
        "ORDERFLOW_CONSUMER_GROUP": f"workers-{suffix}",
        "ORDERFLOW_PARTITIONS": "3",
        "ORDERFLOW_NOTIFY_URL": "log://",
        "ORDERFLOW_METRICS_CACHE_S": "0",
        "ORDERFLOW_ID_SECRET": secrets.token_hex(32),  # shared by the API's processes
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    stack = Stack(env, tmp_path)
    ports = {"worker": free_port(), "relay": free_port()}
    try:
        # In this process: two CLI start-ups fewer than `migrate` and `seed`.
        app = orderflow.bootstrap(database_url=database.url)
        try:
            app.migrate()
            app.catalog.upsert_many(parse_rows(list(CATALOG), source="CATALOG"))
        finally:
            app.close()
        stack.spawn("api", "api", "--port", str(stack.port), "--workers", "2")
        stack.spawn("relay", "relay", "--metrics-port", str(ports["relay"]))
        stack.spawn("worker", "worker", "--metrics-port", str(ports["worker"]))
        stack.wait_ready()
        yield stack, ports
    finally:
        stack.stop()
        database.stop()


def test_metrics_after_a_run_on_the_real_stack(metered_stack: tuple[Stack, dict[str, int]]) -> None:
    stack, ports = metered_stack
    shop = {"Authorization": f"Bearer {stack.create_key('shop')}"}  # places and reads in bulk
    ops = {"Authorization": f"Bearer {stack.create_key('ops')}"}  # the API's /metrics
    ids = []
    for index in range(ORDERS):
        status, body = call("POST", f"{stack.base}/api/orders", request(index), shop)
        assert status == 201, body
        ids.append(body["id"])

    deadline = time.monotonic() + 90
    while True:
        statuses = [
            call("GET", f"{stack.base}/api/orders/{i}", None, shop)[1]["status"] for i in ids
        ]
        if all(s in ("completed", "failed") for s in statuses):
            break
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.5)
    worker_url = f"http://127.0.0.1:{ports['worker']}/metrics"
    relay_url = f"http://127.0.0.1:{ports['relay']}/metrics"

    # The gauges read shared state: wait for the last commits to land.
    api: Samples = {}
    while time.monotonic() < deadline:
        api = scrape(f"{stack.base}/metrics", ops)
        lag = [v for k, v in api.items() if k[0] == "orderflow_consumer_lag"]
        if (
            len(lag) == 3
            and set(lag) == {0}
            and api.get(("orderflow_outbox_backlog", frozenset())) == 0
        ):
            break
        time.sleep(0.5)
    worker, relay = scrape(worker_url), scrape(relay_url)
    assert call("GET", f"{stack.base}/metrics")[0] == 401
    assert call("GET", f"{stack.base}/metrics", None, shop)[0] == 403

    completed, failed = statuses.count("completed"), statuses.count("failed")
    # Two API processes answered; multiprocess mode adds them up.
    assert value(api, "orderflow_orders_placed_total", path="outbox") == ORDERS
    assert (
        value(
            api,
            "orderflow_http_request_seconds_count",
            route="/api/orders",
            method="POST",
            status="201",
        )
        == ORDERS
    )
    assert (
        total(api, "orderflow_http_request_seconds_count", route="/api/orders/<order_id>") >= ORDERS
    )
    assert total(api, "orderflow_cache_requests_total") >= ORDERS
    assert value(api, "orderflow_outbox_backlog") == 0
    assert sorted(k for k in api if k[0] == "orderflow_consumer_lag") and all(
        v == 0 for k, v in api.items() if k[0] == "orderflow_consumer_lag"
    )
    assert value(api, "orderflow_scrape_source_up", source="orderflow_consumer_lag") == 1
    # The worker's own counters.
    assert value(worker, "orderflow_orders_completed_total") == completed > 0
    assert value(worker, "orderflow_orders_failed_total") == failed > 0
    assert value(worker, "orderflow_order_processing_seconds_count") == ORDERS
    # One observation per acquisition of a batch's product locks: at least
    # one, at most one per order.
    assert 1 <= value(worker, "orderflow_stock_lock_wait_seconds_count") <= ORDERS
    assert value(worker, "orderflow_stock_lock_wait_seconds_sum") > 0
    # The relay answers with its own registry (notifications go through it).
    assert "orderflow_consumer_lag" not in {k[0] for k in relay}
    # Worker and relay processes answer /ready beside /metrics; the worker's
    # includes its partition assignment.
    for name in ("worker", "relay"):
        status, body = call("GET", f"http://127.0.0.1:{ports[name]}/ready")
        assert status == 200, (name, body)
        assert body["status"] == "ready" and body["failed"] == []
    assert call("GET", f"http://127.0.0.1:{ports['worker']}/ready")[1]["checks"]["partitions"]["ok"]
    assert value(worker, "orderflow_worker_bugs_total") == 0
    assert value(worker, "orderflow_dlq_messages_total") == 0
