"""Rate limits (entrypoints/http/rate_limits.py): one bucket per API key,
customer or client address; a stricter one for placing orders; 429
problem+json with Retry-After past a limit; /health never limited."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.config import Settings
from orderflow.domain.identity import Role
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import (
    Stored,
    api_key,
    assert_problem,
    bearer,
    make_flow,
    owner_of,
    snapshot,
    valid_order,
)

JWT_KEY = "k" * 32
LIMITS = ("rate_limit", "rate_limit_key", "rate_limit_orders")


@pytest.fixture
def limited() -> Iterator[Orderflow]:
    """An app with small budgets: 3 requests a minute per address or
    customer, 5 per key, 2 orders per address or customer."""
    flow = make_flow(
        rate_limit="3/minute",
        rate_limit_key="5/minute",
        rate_limit_orders="2/minute",
        auth_jwt_key=JWT_KEY,
    )
    yield flow
    flow.close()


@pytest.fixture
def client(limited: Orderflow) -> FlaskClient:
    return create_app(limited).test_client()


@pytest.fixture
def stored(limited: Orderflow) -> Callable[[], Stored]:
    return lambda: snapshot(limited)


def from_address(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def statuses(client: FlaskClient, path: str, times: int, **kwargs: Any) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(times)]


def customer(sub: str) -> dict[str, str]:
    claims = {"sub": sub, "exp": int(time.time()) + 60}
    return bearer(jwt.encode(claims, JWT_KEY, algorithm="HS256"))


def test_past_the_burst_the_answer_is_429_problem_json_with_retry_after(
    client: FlaskClient,
) -> None:
    assert statuses(client, "/api/products", 3) == [200, 200, 200]

    response = client.get("/api/products")

    problem = assert_problem(response, 429, "client")
    assert problem.type == "urn:orderflow:problem:too-many-requests"
    assert 1 <= int(response.headers["Retry-After"]) <= 61


def test_placing_orders_has_its_own_stricter_budget_shared_by_both_forms(
    client: FlaskClient,
) -> None:
    placed = client.post("/api/orders", json=valid_order())
    short = client.post("/order", json={"product": "Laptop", "quantity": 1})
    third = client.post("/api/orders", json=valid_order())

    assert (placed.status_code, short.status_code) == (201, 201)
    assert_problem(third, 429)
    assert "Retry-After" in third.headers


def test_a_refused_order_changes_nothing(client: FlaskClient, stored: Callable[[], Stored]) -> None:
    for _ in range(2):
        client.post("/api/orders", json=valid_order())
    before = stored()

    assert_problem(client.post("/api/orders", json=valid_order()), 429)

    assert stored() == before


def test_each_address_has_its_own_bucket(client: FlaskClient) -> None:
    assert statuses(client, "/api/products", 4, **from_address("192.0.2.1"))[-1] == 429

    assert statuses(client, "/api/products", 3, **from_address("192.0.2.2")) == [200] * 3


def test_ipv6_clients_are_counted_by_their_64(client: FlaskClient) -> None:
    for host in range(3):
        client.get("/api/products", **from_address(f"2001:db8:1:1::{host + 1}"))

    assert_problem(client.get("/api/products", **from_address("2001:db8:1:1::99")), 429)
    assert client.get("/api/products", **from_address("2001:db8:1:2::1")).status_code == 200


def test_an_api_key_has_its_own_looser_bucket_apart_from_its_address(
    client: FlaskClient, limited: Orderflow
) -> None:
    shop, other = api_key(limited, Role.SHOP), api_key(limited, Role.SHOP)
    assert statuses(client, "/api/products", 4)[-1] == 429  # the address is spent

    assert statuses(client, "/api/products", 5, headers=shop) == [200] * 5
    assert_problem(client.get("/api/products", headers=shop), 429)
    assert client.get("/api/products", headers=other).status_code == 200


def test_api_keys_place_orders_within_their_own_budget_only(
    client: FlaskClient, limited: Orderflow
) -> None:
    shop = api_key(limited, Role.SHOP)

    codes = [client.post("/api/orders", json=valid_order(), headers=shop).status_code]
    codes += [client.post("/api/orders", json=valid_order(), headers=shop).status_code]
    codes += [client.post("/api/orders", json=valid_order(), headers=shop).status_code]

    assert codes == [201, 201, 201]  # past the 2 orders an address may place


def test_each_customer_has_its_own_bucket(client: FlaskClient) -> None:
    assert statuses(client, "/api/orders", 3, headers=customer("ada")) == [200] * 3
    assert_problem(client.get("/api/orders", headers=customer("ada")), 429)

    assert client.get("/api/orders", headers=customer("grace")).status_code == 200
    assert client.get("/api/products").status_code == 200  # the address is untouched


def test_an_order_token_counts_against_the_client_address(client: FlaskClient) -> None:
    placed = client.post("/api/orders", json=valid_order()).get_json()  # 1 of 3
    client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed))  # 2 of 3
    client.get("/api/products")  # 3 of 3

    assert_problem(client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed)), 429)


def test_guessing_credentials_spends_the_address_budget(client: FlaskClient) -> None:
    wrong = bearer("ofk_not-a-key")

    codes = statuses(client, "/api/orders", 4, headers=wrong)

    assert codes == [401, 401, 401, 429]


def test_health_is_never_limited(client: FlaskClient) -> None:
    statuses(client, "/api/products", 4)

    assert statuses(client, "/health", 50) == [200] * 50


def test_the_default_budget_lets_ten_anonymous_orders_a_minute_through() -> None:
    defaults = {name: Settings.model_fields[name].default for name in LIMITS}
    assert defaults["rate_limit_orders"] == "10/minute"
    flow = make_flow(**defaults)
    try:
        client = create_app(flow).test_client()
        codes = [client.post("/api/orders", json=valid_order()).status_code for _ in range(11)]
    finally:
        flow.close()

    assert codes == [201] * 10 + [429]


def test_a_bad_rate_limit_setting_fails_at_start_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="rate_limit_orders"):
        make_flow(rate_limit_orders="ten a minute")
