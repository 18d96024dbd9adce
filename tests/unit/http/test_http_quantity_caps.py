"""The configured quantity caps (ORDERFLOW_MAX_LINE_QUANTITY, _MAX_ORDER_QUANTITY):
422 problem+json naming the field, nothing stored, the input never echoed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import assert_problem, make_flow, snapshot, valid_order


@pytest.fixture
def capped() -> Iterator[Orderflow]:
    flow = make_flow(max_line_quantity=5, max_order_quantity=8)
    yield flow
    flow.close()


@pytest.fixture
def client(capped: Orderflow) -> FlaskClient:
    return create_app(capped).test_client()


def lines(*quantities: int) -> list[dict[str, object]]:
    return [{"product_id": "mouse", "quantity": quantity} for quantity in quantities]


def test_a_line_over_its_cap_is_422_naming_it_and_stores_nothing(
    client: FlaskClient, capped: Orderflow
) -> None:
    before = snapshot(capped)

    response = client.post("/api/orders", json=valid_order(items=lines(1, 7)))

    problem = assert_problem(response, 422, "items[1].quantity")
    assert [e.field for e in problem.errors] == ["items[1].quantity"]
    assert "at most 5" in problem.errors[0].message
    assert "7" not in response.get_data(as_text=True)
    assert snapshot(capped) == before


def test_lines_adding_up_past_the_order_cap_are_422_naming_items(client: FlaskClient) -> None:
    assert client.post("/api/orders", json=valid_order(items=lines(5, 3))).status_code == 201

    response = client.post("/api/orders", json=valid_order(items=lines(5, 4)))

    problem = assert_problem(response, 422, "items")
    assert "at most 8 units" in problem.errors[0].message


def test_the_short_form_names_its_quantity(client: FlaskClient) -> None:
    response = client.post("/order", json={"product": "Mouse", "quantity": 6})

    assert_problem(response, 422, "quantity")
    assert client.post("/order", json={"product": "Mouse", "quantity": 5}).status_code == 201


def test_the_default_caps_are_100_a_line_and_1000_an_order() -> None:
    flow = make_flow()
    try:
        client = create_app(flow).test_client()
        over = client.post("/api/orders", json=valid_order(items=lines(101)))
        at = client.post("/api/orders", json=valid_order(items=lines(100)))
        total = client.post("/api/orders", json=valid_order(items=lines(*[100] * 10, 1)))
    finally:
        flow.close()

    assert_problem(over, 422, "items[0].quantity")
    assert at.status_code == 201
    assert_problem(total, 422, "items")


def test_a_line_cap_above_the_schema_s_bound_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="max_line_quantity"):
        make_flow(max_line_quantity=1001)
