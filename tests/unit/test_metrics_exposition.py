"""/metrics after a run of the embedded pipeline: every metric the dashboard
and the alerts use is there, with values that match what happened."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.domain.identity import Role
from orderflow.domain.model import OrderStatus, Product
from orderflow.entrypoints.http.app import create_app
from orderflow.ports.metrics import CATALOG, SCRAPE_TIME_GAUGES
from tests.support.metrics import parse, total, value
from tests.unit.http.support import UNTHROTTLED, api_key, valid_order
from tests.unit.journey import drain

ORDERS = 12


@pytest.fixture
def flow() -> Iterator[Orderflow]:
    app = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", metrics_cache_s=0.0, **UNTHROTTLED
    )
    app.catalog.upsert_many(
        [
            Product("laptop-14", "Laptop", "laptop", Decimal("999.00"), 5),
            Product("mouse", "Mouse", "mouse", Decimal("19.90"), 1000),
        ]
    )
    yield app
    app.close()


def test_metrics_after_a_run_show_every_family_with_values_that_match(flow: Orderflow) -> None:
    client = create_app(flow).test_client()
    ids = []
    ops = api_key(flow, Role.OPS)  # reads every order
    for _ in range(ORDERS):
        response = client.post("/api/orders", json=valid_order())
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    poison = flow.container.memory_broker()
    poison.append(flow.settings.orders_topic, "poison", b"\x00 not an envelope")

    before = parse(client.get("/metrics", headers=ops).get_data(as_text=True))[0]
    assert value(before, "orderflow_outbox_backlog") == ORDERS
    assert total(before, "orderflow_consumer_lag") == 1  # nothing relayed yet: the poison
    drain(flow)
    for order_id in ids:
        client.get(f"/api/orders/{order_id}", headers=ops)  # written through by the worker: hits
    client.get(f"/api/orders/{uuid.uuid4()}", headers=ops)  # a miss, then 404

    samples, families = parse(client.get("/metrics", headers=ops).get_data(as_text=True))

    statuses = [flow.queries.get(order_id).status for order_id in ids]
    completed = statuses.count(OrderStatus.COMPLETED)
    failed = statuses.count(OrderStatus.FAILED)
    assert (completed, failed) == (5, ORDERS - 5)  # five laptops in stock
    assert value(samples, "orderflow_orders_placed_total", path="outbox") == ORDERS
    assert value(samples, "orderflow_orders_completed_total") == completed
    assert value(samples, "orderflow_orders_failed_total") == failed
    assert value(samples, "orderflow_order_processing_seconds_count") == ORDERS
    assert value(samples, "orderflow_order_processing_seconds_sum") > 0
    # One observation per acquisition of product locks: the worker locks a
    # whole batch's products at once, so between 1 and one per order.
    assert 1 <= value(samples, "orderflow_stock_lock_wait_seconds_count") <= ORDERS
    assert value(samples, "orderflow_stock_lock_wait_seconds_sum") > 0
    assert value(samples, "orderflow_dlq_messages_total") == 1
    assert value(samples, "orderflow_cache_requests_total", result="hit") == ORDERS
    assert value(samples, "orderflow_cache_requests_total", result="miss") == 1
    assert value(samples, "orderflow_outbox_backlog") == 0
    lag = {k: v for k, v in samples.items() if k[0] == "orderflow_consumer_lag"}
    assert len(lag) == flow.settings.partitions and set(lag.values()) == {0}
    assert value(samples, "orderflow_scrape_source_up", source="orderflow_outbox_backlog") == 1
    assert value(samples, "orderflow_scrape_source_up", source="orderflow_consumer_lag") == 1
    placed = value(
        samples,
        "orderflow_http_request_seconds_count",
        route="/api/orders",
        method="POST",
        status="201",
    )
    assert placed == ORDERS
    reads = total(samples, "orderflow_http_request_seconds_count", route="/api/orders/<order_id>")
    assert reads == ORDERS + 1
    assert "orderflow_http_request_seconds" in families


def test_lag_counts_what_the_workers_have_not_committed(flow: Orderflow) -> None:
    client = create_app(flow).test_client()
    ops = api_key(flow, Role.OPS)
    for _ in range(3):
        client.post("/api/orders", json=valid_order())
    flow.relay.drain_once()  # on the topic, no worker yet

    samples = parse(client.get("/metrics", headers=ops).get_data(as_text=True))[0]

    assert total(samples, "orderflow_consumer_lag") == 3
    assert value(samples, "orderflow_outbox_backlog") == 0


def test_a_fresh_process_lists_what_dashboards_and_alerts_read_at_zero() -> None:
    flow = orderflow.bootstrap(database_url="memory://")
    try:
        samples, _ = parse(flow.metrics_exposition().decode())
    finally:
        flow.close()

    assert value(samples, "orderflow_orders_failed_total") == 0
    assert value(samples, "orderflow_orders_completed_total") == 0
    assert value(samples, "orderflow_dlq_messages_total") == 0
    assert value(samples, "orderflow_worker_bugs_total") == 0
    assert value(samples, "orderflow_cache_requests_total", result="hit") == 0
    assert value(samples, "orderflow_cache_requests_total", result="miss") == 0
    assert value(samples, "orderflow_orders_placed_total", path="outbox") == 0
    assert value(samples, "orderflow_orders_placed_total", path="broker_fallback") == 0
    for result in ("sent", "retry", "given_up", "unknown"):
        assert value(samples, "orderflow_notifications_total", result=result) == 0
    assert value(samples, "orderflow_loop_restarts_total", loop="relay") == 0


def test_every_metric_is_declared_once_in_the_catalog() -> None:
    names = [spec.name for spec in (*CATALOG, *SCRAPE_TIME_GAUGES)]
    assert len(names) == len(set(names))
    for spec in CATALOG:
        assert spec.help, spec.name
        assert all(len(values) == len(spec.labels) for values in spec.initial), spec.name
        assert (spec.kind == "counter") == spec.name.endswith("_total"), spec.name


def test_no_call_site_builds_a_metric_name_from_strings() -> None:
    """Metrics.increment/observe/set take a catalog constant, never a literal."""
    source = Path(orderflow.__file__).parent
    built = [
        f"{path.relative_to(source)}:{node.lineno}"
        for path in source.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("increment", "observe")
        and node.args
        and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)
    ]
    assert built == []
