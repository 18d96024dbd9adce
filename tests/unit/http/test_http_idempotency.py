"""Idempotency-Key on POST /api/orders and POST /order (the contract: same key and
same body returns the first response; same key and another body is 422)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.unit.http.support import Stored, assert_problem, owner_of, valid_order


def post(client: FlaskClient, key: str, body: object, path: str = "/api/orders") -> TestResponse:
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    first = post(client, "order-123", valid_order())

    second = post(client, "order-123", valid_order())

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert stored() == Stored(orders=1, outbox=1, idempotency_keys=1)


def test_the_replay_is_the_first_response_even_after_the_order_changed(
    client: FlaskClient,
) -> None:
    first = post(client, "k", valid_order())
    placed = first.get_json()
    cancelled = client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})
    assert cancelled.status_code == 200

    second = post(client, "k", valid_order())

    assert second.get_json() == first.get_json()
    assert second.get_json()["status"] == "pending"


def test_the_same_key_with_another_body_is_422_and_stores_nothing(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    post(client, "order-123", valid_order())
    before = stored()

    response = post(client, "order-123", valid_order(payment_method="paypal"))

    assert_problem(response, 422, "Idempotency-Key")
    assert stored() == before


def test_different_keys_place_different_orders(client: FlaskClient) -> None:
    first = post(client, "a", valid_order())
    second = post(client, "b", valid_order())

    assert first.get_json()["id"] != second.get_json()["id"]


def test_without_a_key_every_post_places_an_order(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    client.post("/api/orders", json=valid_order())
    client.post("/api/orders", json=valid_order())

    assert stored().orders == 2


def test_the_short_form_honours_the_key(client: FlaskClient) -> None:
    body = {"product": "Laptop", "quantity": 1}
    first = post(client, "short-1", body, "/order")

    second = post(client, "short-1", body, "/order")
    other = post(client, "short-1", {"product": "Laptop", "quantity": 2}, "/order")

    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert_problem(other, 422, "Idempotency-Key")


def test_ten_concurrent_requests_with_one_key_place_exactly_one_order(
    app: Flask, stored: Callable[[], Stored]
) -> None:
    start = threading.Barrier(10)
    responses: list[TestResponse] = []
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        start.wait()
        response = post(client, "same-key", valid_order())
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.get_json()["id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert stored() == Stored(orders=1, outbox=1, idempotency_keys=1)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "   ",
        "k" * 256,
        "tab\there",
        "nul\x00",
        "del\x7f",
        "ключ",  # not ASCII
        '{"$gt": ""}' + "x" * 250,
    ],
)
@pytest.mark.parametrize("path", ["/api/orders", "/order"])
def test_a_malformed_key_is_400_and_stores_nothing(
    client: FlaskClient, stored: Callable[[], Stored], key: str, path: str
) -> None:
    body = valid_order() if path == "/api/orders" else {"product": "Laptop", "quantity": 1}
    before = stored()

    response = client.post(path, json=body, headers=[("Idempotency-Key", key)])

    assert_problem(response, 400, "Idempotency-Key")
    assert stored() == before


def test_the_longest_printable_key_is_accepted(client: FlaskClient) -> None:
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3

    response = post(client, key[:255], valid_order())

    assert response.status_code == 201
