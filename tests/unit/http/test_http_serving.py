"""Serving rules the app keeps whatever server runs it: ids matched whole,
trusted hosts, no redirects, the body limit from the settings, and no error
that quotes the request (tests/integration/test_serving_limits.py runs the
servers themselves)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError

import orderflow
from orderflow import Orderflow
from orderflow.config import Settings
from orderflow.domain.identity import Role
from orderflow.entrypoints.http.app import create_app
from orderflow.entrypoints.http.hosts import LOOPBACK
from tests.unit.http.support import (
    Stored,
    api_key,
    assert_problem,
    make_flow,
    owner_of,
    valid_order,
)

ORDER_ID = "0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69"
MARKER = "zq-marker-7f3a"


@pytest.fixture
def placed(client: FlaskClient, flow: Orderflow) -> dict[str, Any]:
    response = client.post("/api/orders", json=valid_order(), headers=api_key(flow, Role.SHOP))
    assert response.status_code == 201
    body: dict[str, Any] = response.get_json()
    return body


# --- ids -----------------------------------------------------------------------

ORDER_ROUTES = [
    ("GET", "/api/orders/{}"),
    ("GET", "/api/orders/{}/events"),
    ("GET", "/api/orders/{}/stream"),
    ("POST", "/api/orders/{}/cancel"),
    ("GET", "/order/{}"),
]
JUNK = ["{}%0a", "{}%0A%0A", "%20{}", "{}%20", "{}x", "x{}", "{}%00", "%0a{}"]


@pytest.mark.parametrize(("method", "route"), ORDER_ROUTES)
@pytest.mark.parametrize("junk", JUNK)
def test_an_order_id_with_junk_around_it_is_400_on_every_route(
    client: FlaskClient, placed: dict[str, Any], method: str, route: str, junk: str
) -> None:
    path = route.format(junk.format(placed["id"]))

    response = client.open(path, method=method, json={}, headers=owner_of(placed))

    assert_problem(response, 400, "id")


@pytest.mark.parametrize("junk", [j for j in JUNK if "x" not in j])  # x: still an id
def test_a_product_id_with_junk_around_it_is_400(client: FlaskClient, junk: str) -> None:
    assert_problem(client.get(f"/api/products/{junk.format('laptop-14')}"), 400, "id")


def test_the_whole_id_still_answers(client: FlaskClient, placed: dict[str, Any]) -> None:
    assert client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed)).status_code == 200
    assert client.get(f"/order/{placed['id'].upper()}").status_code == 200
    assert client.get("/api/products/laptop-14").status_code == 200


# --- hosts and redirects ---------------------------------------------------------


@pytest.fixture
def guarded(flow: Orderflow) -> FlaskClient:
    """The app as `orderflow serve` builds it: loopback names only."""
    app = create_app(flow, config={"TRUSTED_HOST_NAMES": LOOPBACK})
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize("host", ["localhost", "localhost:4000", "127.0.0.1:4000", "[::1]:4000"])
def test_the_loopback_names_are_trusted(guarded: FlaskClient, host: str) -> None:
    assert guarded.get("/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:4000", "localhost.evil.example", "127.0.0.2", "a b", ""]
)
@pytest.mark.parametrize("path", ["/health", "/api/products", "/no/such/route", "//api//products"])
def test_any_other_host_is_400_whatever_the_path(
    guarded: FlaskClient, host: str, path: str
) -> None:
    response = guarded.get(path, headers={"Host": host})

    problem = assert_problem(response, 400, "Host")
    assert "Location" not in response.headers
    assert host not in problem.detail or not host


def test_an_untrusted_host_places_nothing(
    guarded: FlaskClient, stored: Callable[[], Stored]
) -> None:
    before = stored()

    response = guarded.post("/api/orders", json=valid_order(), headers={"Host": "evil.example"})

    assert_problem(response, 400, "Host")
    assert stored() == before


def test_subdomains_are_trusted_under_a_leading_dot(flow: Orderflow) -> None:
    app = create_app(flow, config={"TRUSTED_HOST_NAMES": (".shop.example",)})
    client = app.test_client()

    assert client.get("/health", headers={"Host": "eu.shop.example"}).status_code == 200
    assert client.get("/health", headers={"Host": "shop.example.evil"}).status_code == 400


@pytest.mark.parametrize("path", ["//api//products", "/api/products/", "/health/"])
def test_nothing_redirects_to_the_host_sent(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"})

    assert response.status_code < 300 or response.status_code >= 400
    assert "Location" not in response.headers
    assert b"evil.example" not in response.data


# --- settings --------------------------------------------------------------------


@pytest.fixture
def small_limit() -> Iterator[Flask]:
    flow = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", max_body_bytes=2048
    )
    yield create_app(flow)
    flow.close()


def test_the_body_limit_comes_from_the_settings(small_limit: Flask) -> None:
    body = valid_order(customer={"name": "x" * 3000, "email": "a@b.example", "address": "y"})

    response = small_limit.test_client().post("/api/orders", json=body)

    problem = assert_problem(response, 413)
    assert "2048" in problem.detail


def test_trusted_hosts_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_TRUSTED_HOSTS", " Shop.Example , .cdn.example,[::1] ")
    assert Settings().trusted_host_names == ("shop.example", ".cdn.example", "[::1]")
    monkeypatch.setenv("ORDERFLOW_TRUSTED_HOSTS", "*")
    assert Settings().trusted_host_names == ()
    monkeypatch.delenv("ORDERFLOW_TRUSTED_HOSTS")
    assert Settings().trusted_host_names is None


@pytest.mark.parametrize("value", ["shop.example:443", "http://shop.example", "a b", "evil/x"])
def test_a_trusted_host_that_is_not_a_name_fails_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="trusted_hosts"):
        Settings(trusted_hosts=value)


# --- no echo ---------------------------------------------------------------------


def _boom() -> str:
    raise RuntimeError(MARKER)


@pytest.fixture
def echo_client() -> Iterator[FlaskClient]:
    flow = make_flow()
    app = create_app(flow, config={"TRUSTED_HOST_NAMES": LOOPBACK})
    app.add_url_rule("/boom", "boom", _boom)
    yield app.test_client()
    flow.close()


def _requests() -> list[tuple[str, str, dict[str, Any]]]:
    json_type = {"Content-Type": "application/json"}
    return [
        ("404 unknown route", f"/{MARKER}", {}),
        ("404 unknown route, newline", f"/{MARKER}%0a", {}),
        ("405", f"/api/products?{MARKER}=1", {"method": "DELETE"}),
        ("400 bad id", f"/order/{MARKER}", {}),
        ("401 no credentials", f"/api/orders/{MARKER}", {}),
        ("400 bad product id", f"/api/products/{MARKER}%0a", {}),
        ("400 repeated unknown query", f"/api/products?{MARKER}=1&{MARKER}=2", {}),
        ("400 unknown query", f"/api/products?{MARKER}=1", {}),
        ("400 bad query value", f"/api/products?limit={MARKER}", {}),
        ("400 bad host", "/health", {"headers": {"Host": f"{MARKER}.example"}}),
        ("400 bad JSON", "/api/orders", {"method": "POST", "data": f"{{{MARKER}", **_h(json_type)}),
        (
            "400 duplicate key",
            "/api/orders",
            {"method": "POST", "data": f'{{"{MARKER}": 1, "{MARKER}": 2}}', **_h(json_type)},
        ),
        (
            "400 bad Idempotency-Key",
            "/api/orders",
            {
                "method": "POST",
                "json": valid_order(),
                "headers": {"Idempotency-Key": f"{MARKER}\x7f"},
            },
        ),
        (
            "413",
            "/api/orders",
            {"method": "POST", "data": json.dumps({MARKER: "x" * 70_000}), **_h(json_type)},
        ),
        (
            "415",
            "/api/orders",
            {"method": "POST", "data": "{}", "headers": {"Content-Type": f"text/{MARKER}"}},
        ),
        ("422 unknown field", "/api/orders", {"method": "POST", "json": {MARKER: 1}}),
        ("422 operator key", "/api/orders", {"method": "POST", "json": {f"${MARKER}": 1}}),
        (
            "422 unknown product",
            "/api/orders",
            {"method": "POST", "json": valid_order(items=[{"product_id": MARKER, "quantity": 1}])},
        ),
        (
            "422 unknown product, short form",
            "/order",
            {"method": "POST", "json": {"product": MARKER, "quantity": 1}},
        ),
        ("401 bad token", "/api/orders", {"headers": {"Authorization": f"Bearer {MARKER}"}}),
        ("404 unknown product", f"/api/products/{MARKER}", {}),
        ("500", f"/boom?{MARKER}=1", {}),
    ]


def _h(headers: dict[str, str]) -> dict[str, Any]:
    return {"headers": headers}


@pytest.mark.parametrize(("case", "path", "options"), _requests(), ids=lambda v: str(v)[:40])
def test_no_error_quotes_the_request(
    echo_client: FlaskClient, case: str, path: str, options: dict[str, Any]
) -> None:
    options = dict(options)
    headers = {"Host": "localhost", **options.pop("headers", {})}
    method = options.pop("method", "GET")

    response = echo_client.open(path, method=method, headers=headers, **options)

    assert response.status_code == int(case[:3]), response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert MARKER not in response.get_data(as_text=True)
    assert all(MARKER not in value for value in response.headers.values())
