"""Every request runs Flask's whole request cycle: a hook registered on the
app from create_app(...) runs for the busiest routes (POST /api/orders and
POST /order) exactly as for every other route, whatever the request holds."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.unit.http.support import Stored, valid_order

ORDER = json.dumps(valid_order())
SHORT_ORDER = json.dumps({"product": "Laptop", "quantity": 1})

# (method, path, body, content type): the order POSTs as their busiest
# clients send them, and other routes for comparison.
REQUESTS = [
    pytest.param("POST", "/api/orders", ORDER, "application/json", id="POST /api/orders"),
    pytest.param("POST", "/order", SHORT_ORDER, "application/json", id="POST /order"),
    pytest.param(
        "POST",
        "/api/orders",
        ORDER,
        "application/json; charset=utf-8",
        id="POST /api/orders with a charset",
    ),
    pytest.param("GET", "/api/products", None, None, id="GET /api/products"),
    pytest.param("GET", "/health", None, None, id="GET /health"),
]


def send(
    client: FlaskClient, method: str, path: str, body: str | None, content_type: str | None
) -> TestResponse:
    return client.open(path, method=method, data=body, content_type=content_type)


@pytest.mark.parametrize(("method", "path", "body", "content_type"), REQUESTS)
def test_a_before_request_hook_answers_instead_of_the_view(
    app: Flask,
    client: FlaskClient,
    stored: Callable[[], Stored],
    method: str,
    path: str,
    body: str | None,
    content_type: str | None,
) -> None:
    @app.before_request
    def teapot() -> tuple[str, int]:
        return "I'm a teapot", 418

    before = stored()

    response = send(client, method, path, body, content_type)

    assert response.status_code == 418
    assert response.get_data(as_text=True) == "I'm a teapot"
    assert stored() == before  # the view never ran


@pytest.mark.parametrize(("method", "path", "body", "content_type"), REQUESTS)
def test_an_after_request_hook_sees_the_answer_of_the_view(
    app: Flask,
    client: FlaskClient,
    method: str,
    path: str,
    body: str | None,
    content_type: str | None,
) -> None:
    seen: list[tuple[str, str, int]] = []

    @app.after_request
    def stamp(response: Response) -> Response:
        seen.append((request.method, request.path, response.status_code))
        response.headers["X-Seen-By-Hook"] = "yes"
        return response

    response = send(client, method, path, body, content_type)

    assert response.status_code in (200, 201)
    assert response.headers["X-Seen-By-Hook"] == "yes"
    assert seen == [(method, path, response.status_code)]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(b'{"customer": {', "application/json", 400, id="malformed JSON"),
        pytest.param(b"{}", "application/json", 422, id="invalid order"),
        pytest.param(ORDER.encode(), "text/plain", 415, id="wrong content type"),
        pytest.param(b" " * (64 * 1024 + 1), "application/json", 413, id="body over the limit"),
    ],
)
def test_hooks_see_the_errors_of_an_order_post_too(
    app: Flask, client: FlaskClient, body: bytes, content_type: str, status: int
) -> None:
    seen: list[int] = []

    @app.after_request
    def record(response: Response) -> Response:
        seen.append(response.status_code)
        return response

    response = client.post("/api/orders", data=body, content_type=content_type)

    assert response.status_code == status
    assert seen == [status]
