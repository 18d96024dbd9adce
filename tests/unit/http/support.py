"""Helpers shared by the HTTP tests: the catalog, a valid order body, a
snapshot of everything stored, and an assertion on problem responses."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.identity import Role
from orderflow.domain.model import Product
from orderflow.entrypoints.http.schemas import ProblemOut

CATALOG = [
    Product("laptop-14", "Laptop", "14-inch ultralight laptop", Decimal("999.00"), 50),
    Product("mouse", "Mouse", "Wireless mouse for your laptop", Decimal("19.90"), 100),
    Product("desk-lamp", "Desk Lamp", "LED lamp", Decimal("25.00"), 3),
    Product("usb-c-hub", "USB-C Hub", "7-in-1 hub", Decimal("45.50"), 150),
]


def valid_order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": "12 Analytical Street, London",
        },
        "items": [
            {"product_id": "laptop-14", "quantity": 1},
            {"product_id": "mouse", "quantity": 2},
        ],
        "payment_method": "card",
    }
    body.update(changes)
    return body


@dataclass(frozen=True)
class Stored:
    orders: int
    outbox: int
    idempotency_keys: int


# The HTTP tests send far more requests from one address than a client may:
# their budget never throttles them (test_http_rate_limits.py tests the limits).
UNTHROTTLED: dict[str, Any] = {
    "rate_limit": "1000000/second",
    "rate_limit_orders": "1000000/second",
}


def make_flow(**settings: Any) -> Orderflow:
    flow = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", **{**UNTHROTTLED, **settings}
    )
    flow.catalog.upsert_many(
        [Product(p.id, p.name, p.description, p.price, p.stock) for p in CATALOG]
    )
    return flow


def snapshot(flow: Orderflow) -> Stored:
    factory = flow.uow_factory
    assert isinstance(factory, MemoryUnitOfWorkFactory)
    with factory() as uow:
        outbox = uow.outbox.pending_count()
    tables = factory.database.tables
    return Stored(len(tables.orders), outbox, len(tables.idempotency))


def assert_problem(response: TestResponse, status: int, field: str | None = None) -> ProblemOut:
    """The response is problem+json with this status and, if given, names `field`."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = ProblemOut.model_validate(response.get_json())
    assert problem.status == status
    if field is not None:
        named = [error.field for error in problem.errors]
        assert field in named, named
    return problem


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def owner_of(placed: Mapping[str, Any]) -> dict[str, str]:
    """The headers that read `placed` (a 201 body) with its access token."""
    return bearer(str(placed["access_token"]))


def api_key(flow: Orderflow, role: Role = Role.OPS) -> dict[str, str]:
    """The headers of a fresh API key with `role`."""
    issued = flow.api_keys.create(name=f"{role.value}-{uuid.uuid4().hex[:8]}", role=role)
    return bearer(issued.secret)


def without_token(placed: Mapping[str, Any]) -> dict[str, Any]:
    """A 201 body as GET shows the same order: without its access token."""
    return {name: value for name, value in placed.items() if name != "access_token"}


def place(client: FlaskClient) -> dict[str, Any]:
    """POST a valid order anonymously; the 201's body (with its access token)."""
    response = client.post("/api/orders", json=valid_order())
    assert response.status_code == 201
    placed: dict[str, Any] = response.get_json()
    return placed
