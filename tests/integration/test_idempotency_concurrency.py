"""Idempotency-Key under concurrency on real databases: many threads send
the same keyed request at the same moment through the WSGI app (SQLite,
MariaDB, PostgreSQL); exactly one order is created and every thread gets the
same 201 body. The same key with another body is 422, racing or not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

import orderflow
from orderflow import Orderflow
from orderflow.adapters.sqlalchemy import tables
from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.domain.model import Product
from orderflow.entrypoints.http.app import create_app
from tests.support import services
from tests.unit.http.support import UNTHROTTLED, valid_order

THREADS = 12


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'idempotency.sqlite3'}"
        return
    server = request.getfixturevalue("mysql_url" if request.param == "mariadb" else "postgres_url")
    database = services.scratch_database(server)
    try:
        yield database.url
    finally:
        database.stop()


@pytest.fixture
def flow(database_url: str) -> Iterator[Orderflow]:
    # Concurrency, not abuse, is the subject: the rate limits never bite here.
    instance = orderflow.bootstrap(database_url=database_url, notify_url="memory://", **UNTHROTTLED)
    instance.migrate()
    instance.catalog.upsert_many(
        [
            Product("laptop-14", "Laptop", "", Decimal("999.00"), 50),
            Product("mouse", "Mouse", "", Decimal("19.90"), 100),
        ]
    )
    yield instance
    instance.close()


@pytest.fixture
def app(flow: Orderflow) -> Flask:
    return create_app(flow)


def counts(database_url: str) -> tuple[int, int, int]:
    """(orders, outbox rows, idempotency keys) as stored."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return tuple(  # type: ignore[return-value]
                connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (tables.orders, tables.outbox, tables.idempotency_keys)
            )
    finally:
        engine.dispose()


def race(app: Flask, bodies: list[dict[str, Any]], key: str) -> list[Any]:
    """POST each body with the same key, all threads released at once."""
    start = threading.Barrier(len(bodies))
    responses: list[Any] = [None] * len(bodies)

    def send(index: int) -> None:
        client = app.test_client()
        start.wait()
        responses[index] = client.post(
            "/api/orders", json=bodies[index], headers={"Idempotency-Key": key}
        )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None for r in responses), "a request did not finish"
    return responses


def test_concurrent_requests_with_one_key_create_one_order_and_share_its_response(
    app: Flask, database_url: str
) -> None:
    responses = race(app, [valid_order()] * THREADS, "race-key")

    assert [r.status_code for r in responses] == [201] * THREADS
    bodies = [r.get_json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert len({r.headers["Location"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert counts(database_url) == (1, 1, 1)

    other = app.test_client().post(
        "/api/orders",
        json=valid_order(payment_method="paypal"),
        headers={"Idempotency-Key": "race-key"},
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_data(as_text=True)
    assert counts(database_url) == (1, 1, 1)


def test_racing_different_bodies_under_one_key_one_wins_the_rest_are_422(
    app: Flask, database_url: str
) -> None:
    bodies = [valid_order(payment_method=m) for m in ("card", "paypal", "bank_transfer")] * 4

    responses = race(app, bodies, "contested-key")

    created = [(r, body) for r, body in zip(responses, bodies, strict=True) if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert created and {r.status_code for r in refused} <= {422}
    winner = created[0][0].get_json()
    # Every 201 is the winner's response, for a body equal to the winner's.
    assert all(r.get_json() == winner for r, _ in created)
    assert all(body["payment_method"] == winner["payment_method"] for _, body in created)
    assert len(created) == THREADS // 3
    assert counts(database_url) == (1, 1, 1)
