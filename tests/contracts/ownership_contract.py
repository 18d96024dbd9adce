"""Who may read, follow and cancel an order, over HTTP, whatever the store.

Subclass OwnershipContract in a module named test_*.py and provide a `flow`
fixture: an Orderflow over the store under test, with the catalog of
tests/unit/http/support.py loaded and customer JWTs verified with JWT_KEY.
Every order route is tried with no, wrong and right credentials: no
credentials is 401, someone else's is 404 (exactly as an unknown order), the
owner gets the order."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from orderflow import Orderflow
from orderflow.domain.identity import ANONYMOUS_SCOPE, Role, scoped_key, token_digest
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import api_key, assert_problem, bearer, owner_of, valid_order

JWT_KEY = "a development key of at least 32 bytes, for tests only"
ROUTES = [
    ("GET", "/api/orders/{}"),
    ("GET", "/api/orders/{}/events"),
    ("GET", "/api/orders/{}/stream"),
    ("POST", "/api/orders/{}/cancel"),
]
ROUTE_IDS = ["read", "events", "stream", "cancel"]


def customer_token(sub: str, *, key: str = JWT_KEY, expires_in: float = 300) -> str:
    claims = {"sub": sub, "exp": int(time.time() + expires_in)}
    return jwt.encode(claims, key, algorithm="HS256")


def customer(sub: str | None = None) -> dict[str, str]:
    return bearer(customer_token(sub or f"user-{uuid.uuid4().hex[:8]}"))


def call(client: FlaskClient, method: str, path: str, headers: Mapping[str, str]) -> TestResponse:
    if method == "POST":
        return client.post(path, headers=dict(headers), json={})
    return client.get(path, headers=dict(headers))


def first_event(client: FlaskClient, path: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """The first `status` event of a stream (which then is closed)."""
    response = client.get(path, headers=dict(headers), buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    try:
        text = ""
        for chunk in response.response:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: status" in text and text.endswith("\n\n"):
                data = text.split("event: status\ndata: ", 1)[1].split("\n", 1)[0]
                event: dict[str, Any] = json.loads(data)
                return event
    finally:
        response.close()
    raise AssertionError(f"the stream ended without a status event: {text!r}")


def place(client: FlaskClient, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    response = client.post("/api/orders", json=valid_order(), headers=dict(headers or {}))
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def masked(response: TestResponse, order_id: str) -> tuple[str, dict[str, str]]:
    """The response with the order id it names taken out."""
    text = response.get_data(as_text=True).replace(order_id, "<id>")
    return text, {k: v for k, v in response.headers.items() if k.lower() != "content-length"}


class OwnershipContract:
    @pytest.fixture
    def client(self, flow: Orderflow) -> FlaskClient:
        return create_app(flow).test_client()

    def status_of(self, flow: Orderflow, placed: Mapping[str, Any]) -> str:
        return flow.queries.get(str(placed["id"])).status.value

    @pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
    def test_no_credentials_is_401_with_a_bearer_challenge_and_changes_nothing(
        self, client: FlaskClient, flow: Orderflow, method: str, path: str
    ) -> None:
        placed = place(client)

        response = call(client, method, path.format(placed["id"]), {})

        assert_problem(response, 401, "Authorization")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert self.status_of(flow, placed) == "pending"

    @pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer not-a-token",
            "Bearer ofk_" + "x" * 43,  # no such API key
            "Bearer " + customer_token("mallory", key="another key of at least 32 bytes!!"),
            "Bearer " + customer_token("alice", expires_in=-3600),
        ],
        ids=["empty", "basic", "garbage", "unknown-key", "foreign-jwt", "expired-jwt"],
    )
    def test_credentials_that_do_not_verify_are_401(
        self, client: FlaskClient, flow: Orderflow, method: str, path: str, authorization: str
    ) -> None:
        placed = place(client)

        response = call(client, method, path.format(placed["id"]), {"Authorization": authorization})

        assert_problem(response, 401, "Authorization")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert self.status_of(flow, placed) == "pending"

    @pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
    @pytest.mark.parametrize("stranger", ["order-token", "customer", "shop-key"])
    def test_someone_elses_credentials_are_404_as_for_an_unknown_order(
        self, client: FlaskClient, flow: Orderflow, method: str, path: str, stranger: str
    ) -> None:
        placed = place(client, customer("alice-" + uuid.uuid4().hex))
        headers = {
            "order-token": lambda: owner_of(place(client)),
            "customer": lambda: customer(),
            "shop-key": lambda: api_key(flow, Role.SHOP),
        }[stranger]()

        unknown_id = str(uuid.uuid4())
        theirs = call(client, method, path.format(placed["id"]), headers)
        unknown = call(client, method, path.format(unknown_id), headers)

        assert_problem(theirs, 404, "id")
        assert_problem(unknown, 404, "id")
        # Nothing tells the two apart but the id they name.
        assert masked(theirs, str(placed["id"])) == masked(unknown, unknown_id)
        assert self.status_of(flow, placed) == "pending"

    @pytest.mark.parametrize("owner", ["order-token", "customer", "shop-key"])
    def test_the_owner_reads_follows_and_cancels(
        self, client: FlaskClient, flow: Orderflow, owner: str
    ) -> None:
        if owner == "order-token":
            placed = place(client)
            headers = owner_of(placed)
        else:
            headers = customer() if owner == "customer" else api_key(flow, Role.SHOP)
            placed = place(client, headers)
        order_id = placed["id"]

        read = client.get(f"/api/orders/{order_id}", headers=headers)
        events = client.get(f"/api/orders/{order_id}/events", headers=headers)
        with_token = client.get(f"/api/orders/{order_id}", headers=owner_of(placed))
        streamed = first_event(client, f"/api/orders/{order_id}/stream", headers)
        cancelled = client.post(f"/api/orders/{order_id}/cancel", headers=headers, json={})

        assert (read.status_code, events.status_code, with_token.status_code) == (200, 200, 200)
        assert read.get_json()["customer"] == valid_order()["customer"]
        assert streamed == read.get_json()
        assert "owner" not in read.get_json() and "access_token_digest" not in read.get_json()
        assert cancelled.status_code == 200
        assert self.status_of(flow, placed) == "cancelled"

    def test_an_ops_key_reads_any_order_but_cancels_none(
        self, client: FlaskClient, flow: Orderflow
    ) -> None:
        placed = place(client, customer())
        ops = api_key(flow, Role.OPS)

        read = client.get(f"/api/orders/{placed['id']}", headers=ops)
        events = client.get(f"/api/orders/{placed['id']}/events", headers=ops)
        cancel = client.post(f"/api/orders/{placed['id']}/cancel", headers=ops, json={})

        assert (read.status_code, events.status_code) == (200, 200)
        assert_problem(cancel, 403, "Authorization")
        assert self.status_of(flow, placed) == "pending"

    def test_an_ops_key_places_on_neither_route_and_nothing_is_stored(
        self, client: FlaskClient, flow: Orderflow
    ) -> None:
        issued = flow.api_keys.create(name=f"ops-{uuid.uuid4().hex[:8]}", role=Role.OPS)
        key = f"ops-checkout-{uuid.uuid4().hex}"
        headers = {**bearer(issued.secret), "Idempotency-Key": key}

        full = client.post("/api/orders", json=valid_order(), headers=headers)
        short = client.post("/order", json={"product": "Laptop", "quantity": 1}, headers=headers)
        listed = client.get("/api/orders", headers=bearer(issued.secret))

        assert_problem(full, 403, "Authorization")
        assert_problem(short, 403, "Authorization")
        assert_problem(listed, 403, "Authorization")  # it owns no order to list
        owner = f"key:{issued.key.id}"
        with flow.uow_factory() as uow:
            assert uow.orders.list_owned(owner=owner, limit=10, offset=0) == []
            assert uow.idempotency.get(scoped_key(owner, key)) is None

    def test_a_keyed_orders_token_is_in_no_record_yet_a_replay_answers_it(
        self, client: FlaskClient, flow: Orderflow
    ) -> None:
        key = f"checkout-{uuid.uuid4().hex}"

        first = place(client, {"Idempotency-Key": key})
        again = place(client, {"Idempotency-Key": key})

        token = str(first["access_token"])
        with flow.uow_factory() as uow:
            record = uow.idempotency.get(scoped_key(ANONYMOUS_SCOPE, key))
        assert record is not None and record.order_id == first["id"]
        assert "access_token" not in record.response
        assert token not in json.dumps(record.response, default=str)
        assert record.response["access_token_digest"] == token_digest(token)
        assert again["access_token"] == token
        read = client.get(f"/api/orders/{first['id']}", headers=owner_of(again))
        assert read.status_code == 200

    def test_a_revoked_key_is_401_from_then_on(self, client: FlaskClient, flow: Orderflow) -> None:
        issued = flow.api_keys.create(name=f"shop-{uuid.uuid4().hex[:8]}", role=Role.SHOP)
        placed = place(client, bearer(issued.secret))

        flow.api_keys.revoke(issued.key.name)

        response = client.get(f"/api/orders/{placed['id']}", headers=bearer(issued.secret))
        assert_problem(response, 401, "Authorization")
        assert_problem(
            client.post("/api/orders", json=valid_order(), headers=bearer(issued.secret)), 401
        )

    def test_a_customer_lists_only_its_own_orders_newest_first_page_by_page(
        self, client: FlaskClient
    ) -> None:
        alice, bob = customer(), customer()
        mine = [place(client, alice)["id"] for _ in range(3)]
        place(client, bob)
        place(client)

        first = client.get("/api/orders?limit=2", headers=alice).get_json()
        second = client.get(f"/api/orders?limit=2&offset={first['next_offset']}", headers=alice)

        newest_first = list(reversed(mine))
        assert [o["id"] for o in first["items"]] == newest_first[:2]
        assert first["next_offset"] == 2
        assert [o["id"] for o in second.get_json()["items"]] == newest_first[2:]
        assert second.get_json()["next_offset"] is None

    def test_a_shop_key_lists_the_orders_it_placed(
        self, client: FlaskClient, flow: Orderflow
    ) -> None:
        shop = api_key(flow, Role.SHOP)
        placed = [place(client, shop)["id"] for _ in range(2)]
        place(client, customer())

        listed = client.get("/api/orders", headers=shop).get_json()["items"]

        assert sorted(o["id"] for o in listed) == sorted(placed)

    def test_listing_needs_a_customer_or_a_shop_key(
        self, client: FlaskClient, flow: Orderflow
    ) -> None:
        placed = place(client)

        assert_problem(client.get("/api/orders"), 401, "Authorization")
        assert_problem(client.get("/api/orders", headers=owner_of(placed)), 403)
        assert_problem(client.get("/api/orders", headers=api_key(flow, Role.OPS)), 403)

    def test_two_principals_sending_one_key_get_two_orders(
        self, client: FlaskClient, flow: Orderflow
    ) -> None:
        key = {"Idempotency-Key": f"checkout-{uuid.uuid4().hex}"}
        principals = [{}, customer(), customer(), api_key(flow, Role.SHOP)]

        first = [place(client, {**key, **who}) for who in principals]
        again = [place(client, {**key, **who}) for who in principals]

        assert len({o["id"] for o in first}) == len(principals)
        assert [o["id"] for o in again] == [o["id"] for o in first]
        # A replay answers the same, usable token: recomputed from the
        # principal's scope and the key, as the first answer's was.
        assert [o["access_token"] for o in again] == [o["access_token"] for o in first]
        for order in again:
            read = client.get(f"/api/orders/{order['id']}", headers=owner_of(order))
            assert read.status_code == 200
