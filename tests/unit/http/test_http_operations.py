"""/health, /ready, /metrics, /openapi.json, and how errors leave the app."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from dependency_injector import providers
from flask import Flask
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.domain.errors import (
    BrokerUnavailable,
    ConcurrentUpdate,
    StorageUnavailable,
)
from orderflow.domain.identity import Role
from orderflow.entrypoints.http.app import create_app
from orderflow.entrypoints.http.schemas import HealthOut, ReadinessOut
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.support.metrics import parse, value
from tests.unit.http.support import (
    Stored,
    api_key,
    assert_problem,
    bearer,
    make_flow,
    owner_of,
    valid_order,
)


def test_health_answers_ok(client: FlaskClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert HealthOut.model_validate(response.get_json()).status == "ok"


def test_ready_when_every_dependency_answers(client: FlaskClient, ops: dict[str, str]) -> None:
    response = client.get("/ready", headers=ops)

    assert response.status_code == 200
    body = ReadinessOut.model_validate(response.get_json())
    assert body.status == "ready"
    assert body.failed == [] and body.checks is not None
    assert set(body.checks) == {"database", "broker", "cache"}


def fail() -> None:
    raise StorageUnavailable("secret://user:password@db-host")


def test_not_ready_names_the_failed_dependency_without_its_details(
    client: FlaskClient, flow: Orderflow, monkeypatch: pytest.MonkeyPatch, ops: dict[str, str]
) -> None:
    monkeypatch.setattr(flow, "readiness_checks", lambda: {"database": fail, "cache": lambda: None})

    response = client.get("/ready", headers=ops)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = ReadinessOut.model_validate(response.get_json())
    assert body.failed == ["database"] and body.checks is not None
    assert body.checks["database"].error == "StorageUnavailable"
    assert body.checks["cache"].ok
    assert "password" not in response.get_data(as_text=True)


@pytest.fixture
def hung() -> Iterator[threading.Event]:
    release = threading.Event()
    yield release
    release.set()  # let the stuck daemon threads finish


def test_a_hung_dependency_cannot_hang_readiness(
    client: FlaskClient,
    flow: Orderflow,
    monkeypatch: pytest.MonkeyPatch,
    hung: threading.Event,
    ops: dict[str, str],
) -> None:
    calls: list[str] = []

    def hang() -> None:
        calls.append("broker")
        hung.wait(30)

    monkeypatch.setattr(
        flow, "readiness_checks", lambda: {"broker": hang, "database": lambda: None}
    )

    started = time.perf_counter()
    first = client.get("/ready", headers=ops)
    second = client.get("/ready", headers=ops)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.5  # two probes, 0.2 s deadline each in these tests
    for response in (first, second):
        assert response.status_code == 503
        assert response.get_json()["failed"] == ["broker"]
    assert "timed out" in first.get_json()["checks"]["broker"]["error"]
    assert calls == ["broker"]  # the second probe did not start another thread

    hung.set()
    time.sleep(0.05)
    assert client.get("/ready", headers=ops).status_code == 200


def test_readiness_survives_checks_that_cannot_even_be_listed(
    client: FlaskClient,
    flow: Orderflow,
    monkeypatch: pytest.MonkeyPatch,
    hung: threading.Event,
    ops: dict[str, str],
) -> None:
    def listing() -> dict[str, Callable[[], None]]:
        hung.wait(30)
        return {}

    monkeypatch.setattr(flow, "readiness_checks", listing)

    response = client.get("/ready", headers=ops)

    assert response.status_code == 503
    assert response.get_json()["failed"] == ["checks"]


def test_metrics_expose_request_latency_by_route_template(
    client: FlaskClient, ops: dict[str, str]
) -> None:
    placed = client.post("/api/orders", json=valid_order()).get_json()
    client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed))
    client.get(f"/api/orders/{uuid.uuid4()}", headers=owner_of(placed))
    client.get("/no/such/route")

    response = client.get("/metrics", headers=ops)

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'orderflow_orders_placed_total{path="outbox"} 1.0' in text
    assert (
        'orderflow_http_request_seconds_count{method="GET",route="/api/orders/<order_id>",'
        'status="200"} 1.0' in text
    )
    assert 'route="/api/orders/<order_id>",status="404"' in text
    assert 'route="unmatched",status="404"' in text
    assert placed["id"] not in text  # ids never become labels


def test_order_posts_are_counted_by_status(client: FlaskClient, ops: dict[str, str]) -> None:
    unknown = valid_order(items=[{"product_id": "no-such-product", "quantity": 1}])
    for content_type in ("application/json", "application/json; charset=utf-8"):
        client.post("/api/orders", data=json.dumps(valid_order()), content_type=content_type)
        client.post("/api/orders", data=json.dumps(unknown), content_type=content_type)

    samples = parse(client.get("/metrics", headers=ops).get_data(as_text=True))[0]

    def counted(status: str) -> float:
        return value(
            samples,
            "orderflow_http_request_seconds_count",
            route="/api/orders",
            method="POST",
            status=status,
        )

    assert (counted("201"), counted("422")) == (2, 2)


def test_openapi_document_is_valid_and_covers_every_route(app: Flask, client: FlaskClient) -> None:
    import openapi_spec_validator as validator  # a dev dependency: missing means failing

    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    validator.validate(document)
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <path:name> -> {name}
        assert path in document["paths"], path
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                assert method.lower() in document["paths"][path], (method, path)


def test_openapi_request_schemas_carry_the_validation_limits(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]

    items = schemas["OrderRequest"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 100)
    quantity = schemas["OrderItemRequest"]["properties"]["quantity"]
    assert (quantity["minimum"], quantity["maximum"]) == (1, 1000)
    assert schemas["OrderRequest"]["additionalProperties"] is False
    short = schemas["ShortOrderRequest"]
    assert short["required"] == ["product", "quantity"]
    assert short["properties"]["payment_method"]["default"] == "cash_on_delivery"


def test_an_unknown_route_is_a_problem_not_html(client: FlaskClient) -> None:
    assert_problem(client.get("/nowhere"), 404)


def test_a_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/orders")

    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


class Down(UnitOfWorkFactory):
    batch_limit = 1

    def __call__(self) -> UnitOfWork:
        raise StorageUnavailable("postgresql://user:password@db:5432 unreachable")


def test_database_down_is_503_with_retry_after() -> None:
    flow = make_flow()
    flow.container.uow_factory.override(providers.Object(Down()))
    flow.container.catalog.reset()  # built already, to seed the catalog
    client = create_app(flow).test_client()

    for response in (
        client.post("/api/orders", json=valid_order()),
        client.post("/order", json={"product": "Laptop", "quantity": 1}),
        client.get("/api/products"),
        # An order token needs no lookup to be resolved: the read itself fails.
        client.get(f"/api/orders/{uuid.uuid4()}", headers=bearer("oft_" + "x" * 43)),
    ):
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"
        assert "password" not in response.get_data(as_text=True)
    flow.close()


class BrokenCatalog:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def search(self, *, text: str, limit: int, offset: int) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BrokerUnavailable("broker down"), 503),
        (StorageUnavailable("db down"), 503),
        (ConcurrentUpdate("raced"), 409),
        (RuntimeError("bug"), 500),
        (KeyError("bug"), 500),
    ],
)
def test_errors_from_services_become_problems(
    client: FlaskClient, flow: Orderflow, error: Exception, status: int
) -> None:
    flow.container.catalog.override(providers.Object(BrokenCatalog(error)))

    response = client.get("/api/products")

    assert_problem(response, status)
    assert "bug" not in response.get_json()["detail"]


def test_an_unexpected_error_is_logged(
    client: FlaskClient, flow: Orderflow, caplog: pytest.LogCaptureFixture
) -> None:
    flow.container.catalog.override(providers.Object(BrokenCatalog(RuntimeError("boom"))))

    with caplog.at_level(logging.ERROR):
        client.get("/api/products")

    assert any(r.exc_info and "GET /api/products" in r.getMessage() for r in caplog.records)


def test_each_app_has_its_own_orderflow(stored: Callable[[], Stored]) -> None:
    first, second = make_flow(), make_flow()
    first_client = create_app(first).test_client()
    create_app(second)

    placed = first_client.post("/order", json={"product": "Laptop", "quantity": 1}).get_json()

    assert first.queries.get(placed["id"]).id == placed["id"]
    assert second.catalog.count() == first.catalog.count()
    assert stored() == Stored(0, 0, 0)  # the fixture's own orderflow saw nothing
    first.close()
    second.close()


def test_head_works_where_get_does(client: FlaskClient) -> None:
    assert client.head("/health").status_code == 200


def test_metrics_need_an_ops_key(client: FlaskClient, flow: Orderflow, ops: dict[str, str]) -> None:
    shop = api_key(flow, Role.SHOP)

    assert_problem(client.get("/metrics"), 401, "Authorization")
    assert_problem(client.get("/metrics", headers=bearer("ofk_wrong")), 401, "Authorization")
    assert_problem(client.get("/metrics", headers=shop), 403, "Authorization")
    placed = client.post("/api/orders", json=valid_order()).get_json()
    assert_problem(client.get("/metrics", headers=owner_of(placed)), 403)
    assert client.get("/metrics", headers=ops).status_code == 200


def test_ready_shows_its_details_to_an_ops_key_only(
    client: FlaskClient, flow: Orderflow, ops: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flow, "readiness_checks", lambda: {"database": fail, "cache": lambda: None})

    anonymous = client.get("/ready")
    shop = client.get("/ready", headers=api_key(flow, Role.SHOP))
    detailed = client.get("/ready", headers=ops)

    for plain in (anonymous, shop):
        assert plain.status_code == 503
        assert plain.get_json() == {"status": "not ready"}
    assert detailed.get_json()["failed"] == ["database"]
    assert_problem(client.get("/ready", headers=bearer("ofk_wrong")), 401)


def test_every_operation_but_health_documents_429_with_retry_after(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    limited = document["components"]["responses"]["TooManyRequests"]

    assert "Retry-After" in limited["headers"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            documented = "429" in operation["responses"]
            assert documented == (path != "/health"), (method, path)
