"""deploy/: the Grafana dashboard, the Prometheus alert rules and scrape
example parse, and every metric their expressions name is one the code
registers (collected from a real PrometheusMetrics registry after a run that
exercises every path: completed, failed, cancelled, dead-lettered, notified)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import orderflow
from orderflow.domain.model import Product
from orderflow.entrypoints.http.app import create_app
from tests.support.metrics import parse
from tests.unit.http.support import owner_of, valid_order
from tests.unit.journey import drain

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\borderflow_[a-z0-9_]+\b")


@pytest.fixture(scope="module")
def registered() -> set[str]:
    """Every family and sample name /metrics shows after exercising the code."""
    flow = orderflow.bootstrap(database_url="memory://", notify_url="memory://")
    try:
        flow.catalog.upsert_many(
            [
                Product("laptop-14", "Laptop", "laptop", Decimal("999.00"), 1),
                Product("mouse", "Mouse", "mouse", Decimal("19.90"), 100),
            ]
        )
        client = create_app(flow).test_client()
        placed = [client.post("/api/orders", json=valid_order()).get_json() for _ in range(3)]
        ids = [order["id"] for order in placed]
        cancel = client.post(f"/api/orders/{ids[2]}/cancel", headers=owner_of(placed[2]), json={})
        assert cancel.status_code == 200
        flow.container.memory_broker().append(flow.settings.orders_topic, "x", b"poison")
        drain(flow)
        flow.notification_dispatcher.dispatch_once()
        client.get(f"/api/orders/{ids[0]}", headers=owner_of(placed[0]))
        samples, families = parse(flow.metrics_exposition().decode())
    finally:
        flow.close()
    return families | {name for name, _ in samples}


def expressions(node: Any) -> list[str]:
    """Every `expr` string anywhere in a parsed YAML or JSON document."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for item in node for e in expressions(item)]
    return []


def test_the_alert_rules_parse_and_name_only_registered_metrics(registered: set[str]) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {
        "OrderflowConsumerLagHigh",
        "OrderflowFailedOrderRateHigh",
        "OrderflowOutboxBacklogHigh",
    } <= names
    for rule in alerts:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        used = set(METRIC.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= registered, (rule["alert"], used - registered)


def test_the_dashboard_parses_and_names_only_registered_metrics(registered: set[str]) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "orderflow.json").read_text())
    titles = " / ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("intake", "status", "latency", "lag", "backlog", "dead", "cache", "lock"):
        assert topic in titles, topic
    exprs = expressions(dashboard)
    assert len(exprs) >= len(dashboard["panels"])
    for expr in exprs:
        used = set(METRIC.findall(expr))
        assert used and used <= registered, (expr, used - registered)
    quantiles = [e for e in exprs if "orderflow_order_processing_seconds_bucket" in e]
    assert any("0.5" in e for e in quantiles) and any("0.99" in e for e in quantiles)


def test_the_scrape_example_names_every_process_and_the_rule_file() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"orderflow-api", "orderflow-worker", "orderflow-relay"}
    assert jobs["orderflow-api"]["static_configs"][0]["targets"] == ["api:4000"]
    # The API's /metrics needs an ops key, sent as a bearer token from a file.
    authorization = jobs["orderflow-api"]["authorization"]
    assert authorization["type"] == "Bearer" and authorization["credentials_file"]
