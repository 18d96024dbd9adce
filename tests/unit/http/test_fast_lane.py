"""The fast lane for POST /api/orders (http/fast_lane.py) answers exactly what
Flask's view answers: the same status, headers and body, for a new order and
for every kind of error, and the same request metric.

Each case is sent twice: once as the lane takes it (`Content-Type:
application/json`) and once with a charset parameter, which the lane leaves
to Flask; the view accepts both alike."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from orderflow import Orderflow
from orderflow.domain.errors import StorageUnavailable
from tests.support.metrics import parse, value
from tests.unit.http.support import Stored, valid_order

LANE = "application/json"
VIEW = "application/json; charset=utf-8"


class Raising:
    """A placement that fails as a given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def place(self, command: object) -> Any:
        raise self.error


@pytest.fixture
def views(app: Flask) -> list[str]:
    """The paths of the requests Flask's own machinery answered (its
    before-request hooks ran), in order."""
    seen: list[str] = []

    @app.before_request
    def _seen() -> None:
        from flask import request

        seen.append(request.path)

    return seen


def post(client: FlaskClient, raw: bytes, content_type: str, **headers: str) -> TestResponse:
    return client.post("/api/orders", data=raw, content_type=content_type, headers=headers)


def both(client: FlaskClient, raw: bytes, views: list[str]) -> tuple[TestResponse, TestResponse]:
    lane = post(client, raw, LANE)
    assert views == [], "the lane did not answer"
    view = post(client, raw, VIEW)
    assert views == ["/api/orders"], "Flask did not answer"
    views.clear()
    return lane, view


def _order_fields(response: TestResponse) -> dict[str, Any]:
    body = dict(response.get_json())
    for varying in ("id", "created_at", "updated_at", "history"):
        body.pop(varying)
    return body


def test_a_new_order_is_answered_alike(client: FlaskClient, views: list[str]) -> None:
    lane, view = both(client, json.dumps(valid_order()).encode(), views)

    assert lane.status_code == view.status_code == 201
    assert [name for name, _ in lane.headers] == [name for name, _ in view.headers]
    assert lane.headers["Content-Type"] == view.headers["Content-Type"]
    assert lane.headers["Location"] == f"/api/orders/{lane.get_json()['id']}"
    assert _order_fields(lane) == _order_fields(view)
    assert lane.get_data().endswith(b"\n") and view.get_data().endswith(b"\n")
    assert "Idempotent-Replayed" not in lane.headers


UNKNOWN = valid_order(items=[{"product_id": "no-such-product", "quantity": 1}])
ERRORS: list[tuple[str, bytes]] = [
    ("malformed", b'{"customer": {'),
    ("duplicate keys", b'{"payment_method": "card", "payment_method": "paypal"}'),
    ("invalid utf-8", b'{"customer": "\xff"}'),
    ("operator key", json.dumps({**valid_order(), "$where": "1"}).encode()),
    ("escaped operator key", b'{"customer": {"\\u0024gt": ""}}'),
    ("nested too deep", b'{"a":' * 40 + b"1" + b"}" * 40),
    ("schema", json.dumps({"customer": {"name": 1}, "items": []}).encode()),
    ("not an object", b"[1, 2]"),
    ("unknown product", json.dumps(UNKNOWN).encode()),
]


@pytest.mark.parametrize("raw", [pytest.param(raw, id=case) for case, raw in ERRORS])
def test_errors_are_answered_alike_and_store_nothing(
    client: FlaskClient, stored: Callable[[], Stored], views: list[str], raw: bytes
) -> None:
    before = stored()

    lane, view = both(client, raw, views)

    assert 400 <= lane.status_code < 500
    assert (lane.status_code, lane.get_json()) == (view.status_code, view.get_json())
    assert lane.headers == view.headers
    assert stored() == before


@pytest.fixture
def failing(flow: Orderflow) -> Iterator[Callable[[Exception], None]]:
    def fail_with(error: Exception) -> None:
        flow.container.placement.override(Raising(error))

    yield fail_with
    flow.container.placement.reset_override()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (StorageUnavailable("database and broker down (injected)"), 503),
        (RuntimeError("a bug (injected)"), 500),
    ],
)
def test_failures_of_placement_are_answered_alike(
    client: FlaskClient,
    views: list[str],
    failing: Callable[[Exception], None],
    error: Exception,
    status: int,
) -> None:
    failing(error)

    lane, view = both(client, json.dumps(valid_order()).encode(), views)

    assert lane.status_code == view.status_code == status
    assert lane.get_json() == view.get_json()
    assert lane.headers == view.headers  # Retry-After on the 503


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        (VIEW, {}),
        ("text/plain", {}),
        (LANE, {"Idempotency-Key": "lane-test-1"}),
    ],
)
def test_other_requests_go_to_flask(
    client: FlaskClient, views: list[str], content_type: str, headers: dict[str, str]
) -> None:
    post(client, json.dumps(valid_order()).encode(), content_type, **headers)

    assert views == ["/api/orders"]


def test_a_body_over_the_limit_goes_to_flask(client: FlaskClient, views: list[str]) -> None:
    response = post(client, b" " * (64 * 1024 + 1), LANE)

    assert response.status_code == 413
    assert views == ["/api/orders"]


def test_answers_of_the_lane_are_counted_like_the_views(
    client: FlaskClient, views: list[str]
) -> None:
    for content_type in (LANE, VIEW):
        post(client, json.dumps(valid_order()).encode(), content_type)
        post(client, json.dumps(UNKNOWN).encode(), content_type)

    samples = parse(client.get("/metrics").get_data(as_text=True))[0]

    def counted(status: str) -> float:
        return value(
            samples,
            "orderflow_http_request_seconds_count",
            route="/api/orders",
            method="POST",
            status=status,
        )

    assert (counted("201"), counted("422")) == (2, 2)


def test_location_names_the_order(client: FlaskClient) -> None:
    response = post(client, json.dumps(valid_order()).encode(), LANE)

    assert re.fullmatch(r"/api/orders/[0-9a-f-]{36}", response.headers["Location"])
    assert client.get(response.headers["Location"]).get_json()["id"] == response.get_json()["id"]
