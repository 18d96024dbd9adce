"""The broker fallback compares bodies under one Idempotency-Key like the
normal path: while the database is down, the same key and body gets the
first answer (one order published), another body is 422; once the database
is back, the key still answers for the order published during the outage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.identity import ANONYMOUS_SCOPE, scoped_key
from orderflow.domain.model import OrderStatus, Product
from orderflow.entrypoints.http.app import create_app
from tests.unit.faults import FlakyUnitOfWorkFactory
from tests.unit.http.support import assert_problem, owner_of, valid_order
from tests.unit.journey import app_over, drain, memory_broker

DOWN = 10_000  # units of work that fail to open: the database is down


@pytest.fixture
def flaky() -> FlakyUnitOfWorkFactory:
    return FlakyUnitOfWorkFactory(MemoryUnitOfWorkFactory())


@pytest.fixture
def app(flaky: FlakyUnitOfWorkFactory) -> Iterator[Orderflow]:
    instance = app_over(
        flaky,
        Product("laptop-14", "Laptop", "", Decimal("999.00"), 10),
        Product("mouse", "Mouse", "", Decimal("19.90"), 100),
    )
    # Intake has read the prices before the outage (KnownPrices).
    with instance.uow_factory() as uow:
        instance.container.known_prices().remember(uow.products.prices(["laptop-14", "mouse"]))
    yield instance
    instance.close()


@pytest.fixture
def client(app: Orderflow) -> FlaskClient:
    return create_app(app).test_client()


def published(app: Orderflow) -> list[str]:
    return [json.loads(raw)["key"] for raw in memory_broker(app).messages(app.topics.orders)]


def test_during_an_outage_the_same_key_and_body_replays_the_first_answer(
    app: Orderflow, client: FlaskClient, flaky: FlakyUnitOfWorkFactory
) -> None:
    flaky.failures = DOWN
    first = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "k-1"})

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert published(app) == [first.get_json()["id"]]


def test_during_an_outage_the_same_key_with_another_body_is_422_and_publishes_nothing(
    app: Orderflow, client: FlaskClient, flaky: FlakyUnitOfWorkFactory
) -> None:
    flaky.failures = DOWN
    first = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "k-2"})
    other = valid_order(payment_method="paypal")
    second = client.post("/api/orders", json=other, headers={"Idempotency-Key": "k-2"})

    assert first.status_code == 201
    assert_problem(second, 422)
    assert published(app) == [first.get_json()["id"]]


def test_after_the_outage_the_key_still_answers_for_the_order_published_during_it(
    app: Orderflow, client: FlaskClient, flaky: FlakyUnitOfWorkFactory
) -> None:
    flaky.failures = DOWN
    first = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "k-3"})
    flaky.failures = 0  # the database is back; the worker has not stored the order yet

    other = valid_order(payment_method="paypal")
    conflict = client.post("/api/orders", json=other, headers={"Idempotency-Key": "k-3"})
    same = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "k-3"})

    assert_problem(conflict, 422)
    assert same.status_code == 201 and same.get_json() == first.get_json()
    drain(app)
    assert app.queries.get(first.get_json()["id"]).status is OrderStatus.COMPLETED
    assert app.catalog.get("mouse").stock == 98  # one order of two mice


def test_a_failed_publish_forgets_the_key(app: Orderflow, flaky: FlakyUnitOfWorkFactory) -> None:
    client = create_app(app).test_client()
    flaky.failures = DOWN
    memory_broker(app).close()  # both down: 503, and the key is free again

    failed = client.post("/api/orders", json=valid_order(), headers={"Idempotency-Key": "k-4"})

    assert failed.status_code == 503
    assert app.container.fallback_keys().recall(scoped_key(ANONYMOUS_SCOPE, "k-4")) is None


def test_a_retry_through_the_fallback_and_one_after_it_answer_the_first_token(
    app: Orderflow, client: FlaskClient, flaky: FlakyUnitOfWorkFactory
) -> None:
    """The token of a keyed order is derived, not drawn: a retry during the
    outage, and one after the worker stored the order (without any record
    of the key), answer the token of the first 201, and it opens the order."""
    key = {"Idempotency-Key": "k-5"}
    flaky.failures = DOWN
    first = client.post("/api/orders", json=valid_order(), headers=key).get_json()
    during = client.post("/api/orders", json=valid_order(), headers=key).get_json()
    flaky.failures = 0
    drain(app)  # the worker stores the order published during the outage
    fallback_keys = app.container.fallback_keys()
    published_record = fallback_keys.recall(scoped_key(ANONYMOUS_SCOPE, "k-5"))
    assert published_record is not None and "access_token" not in published_record.response
    fallback_keys.forget(published_record)  # only the stored order is left

    after = client.post("/api/orders", json=valid_order(), headers=key)

    assert after.status_code == 201 and after.headers["Idempotent-Replayed"] == "true"
    assert first["access_token"] is not None
    assert during["access_token"] == after.get_json()["access_token"] == first["access_token"]
    assert after.get_json()["id"] == first["id"]
    read = client.get(f"/api/orders/{first['id']}", headers=owner_of(first))
    assert read.status_code == 200
