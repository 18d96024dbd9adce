"""GET /api/orders/<id>/stream: Server-Sent Events of the order's status,
read as a client reads them (Flask's test client, unbuffered)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import orderflow
from orderflow import Orderflow
from orderflow.domain.model import Product
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import CATALOG, assert_problem, owner_of, place
from tests.unit.journey import drain


def flow_with(**settings: Any) -> Orderflow:
    app = orderflow.bootstrap(database_url="memory://", notify_url="memory://", **settings)
    app.catalog.upsert_many([Product(p.id, p.name, p.description, p.price, 50) for p in CATALOG])
    return app


@pytest.fixture
def flow() -> Iterator[Orderflow]:
    app = flow_with(stream_interval_ms=10, stream_max_concurrent=2)
    yield app
    app.close()


@pytest.fixture
def client(flow: Orderflow) -> FlaskClient:
    return create_app(flow).test_client()


def open_stream(client: FlaskClient, placed: dict[str, Any]) -> TestResponse:
    return client.get(
        f"/api/orders/{placed['id']}/stream", headers=owner_of(placed), buffered=False
    )


def frames(response: TestResponse) -> Iterator[str]:
    """The stream's frames (blank-line separated), as they arrive."""
    pending = ""
    for chunk in response.response:
        pending += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in pending:
            frame, pending = pending.split("\n\n", 1)
            yield frame


def status_of(frame: str) -> str | None:
    fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
    if fields.get("event") != "status":
        return None
    status: str = json.loads(fields["data"])["status"]
    return status


def test_the_stream_pushes_each_status_change_and_ends_when_processing_is_over() -> None:
    # `processing` lasts 15 of the stream's reads: it cannot be skipped.
    app = flow_with(stream_interval_ms=20, processing_delay_ms=300, stream_max_s=10)
    worker = threading.Thread(target=drain, args=(app,))
    try:
        client = create_app(app).test_client()
        placed = place(client)
        response = open_stream(client, placed)
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-store"
        stream = frames(response)

        assert next(stream).startswith("retry: ")
        first = next(stream)
        assert status_of(first) == "pending"
        assert f"id: {placed['version']}" in first
        assert json.loads(first.split("data: ", 1)[1]) == {
            k: v for k, v in placed.items() if k != "access_token"
        }
        started = time.monotonic()
        worker.start()  # the worker takes the order while the stream waits
        rest = [status_of(frame) for frame in stream]  # until the stream ends
        ended_after_s = time.monotonic() - started
        response.close()
    finally:
        if worker.is_alive():
            worker.join(10)
        app.close()

    assert [status for status in rest if status] == ["processing", "completed"]
    assert ended_after_s < 5  # by itself, at completed: not at its maximum (10 s)


def test_a_stream_lasts_at_most_its_maximum() -> None:
    app = flow_with(stream_interval_ms=10, stream_max_s=0.05)
    try:
        client = create_app(app).test_client()
        placed = place(client)
        response = open_stream(client, placed)
        statuses = [status_of(frame) for frame in frames(response)]  # ends by itself
        response.close()
    finally:
        app.close()
    assert [status for status in statuses if status] == ["pending"]


def test_beyond_the_concurrent_streams_it_is_503_until_one_closes(client: FlaskClient) -> None:
    placed = place(client)
    first, second = open_stream(client, placed), open_stream(client, placed)
    assert (first.status_code, second.status_code) == (200, 200)

    third = open_stream(client, placed)
    problem = assert_problem(third, 503)
    assert third.headers["Retry-After"] == "5"
    assert placed["id"] not in (problem.detail or "")

    first.close()
    fourth = open_stream(client, placed)
    assert fourth.status_code == 200
    second.close()
    fourth.close()


def test_a_stream_of_a_settled_order_sends_it_once_and_ends(
    client: FlaskClient, flow: Orderflow
) -> None:
    placed = place(client)
    drain(flow)

    response = open_stream(client, placed)
    statuses = [status_of(frame) for frame in frames(response)]
    response.close()

    assert [status for status in statuses if status] == ["completed"]
