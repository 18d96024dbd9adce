"""MongoDB operator injection through the HTTP API on the MongoDB backend
(the wire server of conftest's `mongo_url`): operator objects in bodies,
operator text in path ids, in the search string and in Idempotency-Key are
refused or taken literally, and nothing is stored or matched by them.

The HTTP unit tests prove the same on the memory backend and the Mongo
contract suite at the adapter; this is the path from the wire to MongoDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient
from pymongo import MongoClient

import orderflow
from orderflow import Orderflow
from orderflow.adapters.mongo.documents import IDEMPOTENCY, ORDERS, PRODUCTS
from orderflow.domain.model import Product
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import owner_of, valid_order

GT = {"$gt": ""}
OPERATOR_BODIES: list[tuple[str, Any]] = [
    ("top-level $where", {**valid_order(), "$where": "sleep(1000)"}),
    ("customer is an operator", valid_order(customer={"$ne": None})),
    ("email is an operator", valid_order(customer={**valid_order()["customer"], "email": GT})),
    ("product id is an operator", valid_order(items=[{"product_id": GT, "quantity": 1}])),
    ("quantity is an operator", valid_order(items=[{"product_id": "laptop-14", "quantity": GT}])),
    ("payment is $in", valid_order(payment_method={"$in": ["card"]})),
    ("$set in an item", valid_order(items=[{"product_id": "mouse", "quantity": 1, "$set": 1}])),
    ("short form product $regex", {"product": {"$regex": ".*"}, "quantity": 1}),
    ("short form quantity $gt", {"product": "Laptop", "quantity": {"$gt": 0}}),
]
OPERATOR_TEXT = ['{"$gt": ""}', "$gt", "$where", '{"$ne": null}', ".*", "^", "[$ne]", "a|b"]


@pytest.fixture
def flow(mongo_url: str) -> Iterator[Orderflow]:
    parts = urlsplit(mongo_url)
    url = urlunsplit(parts._replace(path=f"/orderflow_http_{uuid.uuid4().hex[:10]}"))
    instance = orderflow.bootstrap(database_url=url, notify_url="memory://")
    instance.migrate()
    instance.catalog.upsert_many(
        [
            Product("laptop-14", "Laptop", "14-inch laptop", Decimal("999.00"), 50),
            Product("mouse", "Mouse", "Wireless mouse", Decimal("19.90"), 100),
        ]
    )
    yield instance
    instance.close()
    client: MongoClient[Any] = MongoClient(url)
    try:
        client.drop_database(urlsplit(url).path.lstrip("/"))
    finally:
        client.close()


@pytest.fixture
def client(flow: Orderflow) -> FlaskClient:
    app = create_app(flow)
    app.testing = True
    return app.test_client()


def stored(flow: Orderflow) -> tuple[int, int, int, dict[str, int]]:
    with flow.uow_factory() as uow:
        backlog = uow.outbox.pending_count()
    client: MongoClient[Any] = MongoClient(flow.settings.database_url)
    try:
        database = client.get_default_database()
        return (
            database[ORDERS].count_documents({}),
            backlog,
            database[IDEMPOTENCY].count_documents({}),
            {p["_id"]: p["stock"] for p in database[PRODUCTS].find({}, {"stock": 1})},
        )
    finally:
        client.close()


def test_operator_objects_in_bodies_are_422_and_store_nothing(
    client: FlaskClient, flow: Orderflow
) -> None:
    before = stored(flow)
    for case, body in OPERATOR_BODIES:
        path = "/order" if "product" in body else "/api/orders"
        response = client.post(path, json=body)
        assert response.status_code == 422, (case, response.get_json())
        assert "$" in str(response.get_json()["errors"]), case
    assert stored(flow) == before
    # The store works: a clean order goes through.
    assert client.post("/api/orders", json=valid_order()).status_code == 201


@pytest.mark.parametrize("text", OPERATOR_TEXT)
def test_operator_text_in_path_ids_matches_nothing(client: FlaskClient, text: str) -> None:
    placed = client.post("/api/orders", json=valid_order()).get_json()
    assert placed["id"]
    owner = owner_of(placed)
    segment = quote(text, safe="")
    for path in (f"/api/orders/{segment}", f"/order/{segment}", f"/api/products/{segment}"):
        response = client.get(path, headers=owner)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert response.mimetype == "application/problem+json"
    cancel = client.post(f"/api/orders/{segment}/cancel", headers=owner, json={})
    assert cancel.status_code in (400, 404)
    assert (
        client.get(f"/api/orders/{placed['id']}", headers=owner).get_json()["status"] == "pending"
    )


@pytest.mark.parametrize("text", OPERATOR_TEXT)
def test_operator_text_in_the_search_string_is_a_literal(client: FlaskClient, text: str) -> None:
    response = client.get("/api/products", query_string={"search": text})
    if response.status_code == 400:  # text that parses as an operator object is refused
        assert text.startswith("{") and "search" in str(response.get_json()["errors"])
    else:
        assert response.status_code == 200
        assert response.get_json()["items"] == []  # no name or description holds it
    assert client.get("/api/products", query_string={"search": "LAP"}).get_json()["total"] == 1


def test_an_operator_as_idempotency_key_is_400(client: FlaskClient, flow: Orderflow) -> None:
    before = stored(flow)
    response = client.post(
        "/api/orders", json=valid_order(), headers={"Idempotency-Key": '{"$gt": ""}'}
    )
    # Printable ASCII: a valid key, taken literally; a replay finds it again.
    assert response.status_code == 201
    again = client.post(
        "/api/orders", json=valid_order(), headers={"Idempotency-Key": '{"$gt": ""}'}
    )
    assert again.get_json()["id"] == response.get_json()["id"]
    other = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "$ne"})
    assert other.get_json()["id"] != response.get_json()["id"]
    after = stored(flow)
    assert after[0] == before[0] + 2 and after[2] == before[2] + 2
