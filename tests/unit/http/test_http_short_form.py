"""POST /order and GET /order/<id>: the first seed system's API, kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.entrypoints.http.schemas import OrderOut, ShortOrderOut, ShortOrderStatusOut
from tests.unit.http.support import Stored, assert_problem, owner_of, valid_order


def test_the_seed_request_places_an_order(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    response = client.post("/order", json={"product": "Laptop", "quantity": 1})

    assert response.status_code == 201
    body = ShortOrderOut.model_validate(response.get_json())
    assert (body.product, body.product_id, body.quantity, body.status) == (
        "Laptop",
        "laptop-14",
        1,
        "pending",
    )
    assert body.total == "999.00"
    assert body.access_token is not None and body.access_token.startswith("oft_")
    assert response.headers["Location"] == f"/order/{body.id}"
    assert stored() == Stored(orders=1, outbox=1, idempotency_keys=0)


def test_the_seed_status_read_shows_only_id_product_quantity_and_status(
    client: FlaskClient,
) -> None:
    placed = client.post("/order", json={"product": "Laptop", "quantity": 3}).get_json()

    response = client.get(f"/order/{placed['id']}")  # no credentials: the seed's read is open

    assert response.status_code == 200
    body = response.get_json()
    assert body == {"id": placed["id"], "product": "Laptop", "quantity": 3, "status": "pending"}
    ShortOrderStatusOut.model_validate(body)


def test_the_open_status_read_never_shows_customer_data(client: FlaskClient) -> None:
    placed = client.post("/api/orders", json=valid_order()).get_json()

    text = client.get(f"/order/{placed['id']}").get_data(as_text=True)

    customer = valid_order()["customer"]
    assert all(customer[field] not in text for field in ("name", "email", "address"))
    assert "access_token" not in text and "owner" not in text


@pytest.mark.parametrize("reference", ["laptop-14", "laptop", "LAPTOP", "  Laptop  "])
def test_the_product_may_be_named_by_id_or_by_name_in_any_case(
    client: FlaskClient, reference: str
) -> None:
    response = client.post("/order", json={"product": reference, "quantity": 1})

    assert response.status_code == 201
    assert response.get_json()["product_id"] == "laptop-14"


def test_short_form_defaults_are_an_anonymous_customer_paying_on_delivery(
    client: FlaskClient,
) -> None:
    placed = client.post("/order", json={"product": "Mouse", "quantity": 2}).get_json()

    response = client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed))
    order = OrderOut.model_validate(response.get_json())

    assert order.customer.name == "Anonymous customer"
    assert order.customer.email == "anonymous@orderflow.invalid"
    assert order.payment_method == "cash_on_delivery"
    assert order.total == "39.80"


def test_customer_and_payment_method_may_be_given(client: FlaskClient) -> None:
    body = {
        "product": "Laptop",
        "quantity": 1,
        "customer": valid_order()["customer"],
        "payment_method": "paypal",
    }
    placed = client.post("/order", json=body).get_json()

    order = client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed)).get_json()

    assert order["customer"] == body["customer"]
    assert order["payment_method"] == "paypal"


def test_an_order_placed_in_full_reads_in_short_form_by_its_first_line(
    client: FlaskClient,
) -> None:
    placed = client.post("/api/orders", json=valid_order()).get_json()

    body = client.get(f"/order/{placed['id']}").get_json()

    assert (body["product"], body["quantity"], body["status"]) == ("Laptop", 1, "pending")


def test_a_product_that_left_the_catalog_reads_by_its_id(
    client: FlaskClient, flow: Orderflow
) -> None:
    placed = client.post("/order", json={"product": "Laptop", "quantity": 1}).get_json()
    factory: Any = flow.uow_factory
    factory.database.tables.products.pop("laptop-14")

    body = client.get(f"/order/{placed['id']}").get_json()

    assert body["product"] == "laptop-14"


def test_an_unknown_order_is_404(client: FlaskClient) -> None:
    assert_problem(client.get(f"/order/{uuid.uuid4()}"), 404, "id")


GT = {"$gt": ""}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product": "Unicorn", "quantity": 1}, "product"),
        ({"product": "laptop-1", "quantity": 1}, "product"),
        ({"quantity": 1}, "product"),
        ({"product": "Laptop"}, "quantity"),
        ({"product": "", "quantity": 1}, "product"),
        ({"product": "   ", "quantity": 1}, "product"),
        ({"product": "x" * 201, "quantity": 1}, "product"),
        ({"product": 14, "quantity": 1}, "product"),
        ({"product": ["Laptop"], "quantity": 1}, "product"),
        ({"product": None, "quantity": 1}, "product"),
        ({"product": "Laptop\u0000", "quantity": 1}, "product"),
        ({"product": "Lap\ud800top", "quantity": 1}, "product"),
        ({"product": "Laptop", "quantity": 0}, "quantity"),
        ({"product": "Laptop", "quantity": -5}, "quantity"),
        ({"product": "Laptop", "quantity": 1001}, "quantity"),
        ({"product": "Laptop", "quantity": 10**20}, "quantity"),
        ({"product": "Laptop", "quantity": "1"}, "quantity"),
        ({"product": "Laptop", "quantity": 1.0}, "quantity"),
        ({"product": "Laptop", "quantity": True}, "quantity"),
        ({"product": "Laptop", "quantity": 1, "payment_method": "gold"}, "payment_method"),
        ({"product": "Laptop", "quantity": 1, "customer": None}, "customer"),
        ({"product": "Laptop", "quantity": 1, "customer": {"name": "A"}}, "customer.email"),
        ({"product": "Laptop", "quantity": 1, "price": "0.01"}, "body"),
        ({"product": GT, "quantity": 1}, "body"),
        ({"product": "Laptop", "quantity": {"$gte": 1}}, "body"),
        ({"product": "Laptop", "quantity": 1, "customer": {"$where": "1"}}, "body"),
        ({"product": {"name": {"$regex": ".*"}}, "quantity": 1}, "body"),
    ],
)
def test_bad_short_orders_are_422_naming_the_field_and_store_nothing(
    client: FlaskClient, stored: Callable[[], Stored], body: dict[str, Any], field: str
) -> None:
    before = stored()

    response = client.post("/order", data=json.dumps(body), content_type="application/json")

    assert_problem(response, 422, field)
    assert stored() == before


def test_a_product_string_that_is_an_operator_object_is_just_an_unknown_product(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    response = client.post("/order", json={"product": '{"$gt": ""}', "quantity": 1})

    assert_problem(response, 422, "product")
    assert stored().orders == 0
