"""The access token of an order placed with an Idempotency-Key is derived
from the server secret, the principal's scope and the key, so no store
keeps it: not the order (its digest only), not the key's record. A replay
recomputes it; a record an older release wrote with the token in clear is
never answered with that token, and after the secret is rotated a replay
answers no token rather than one that opens nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask.testing import FlaskClient

import orderflow
from orderflow import Orderflow
from orderflow.application.identity import new_order_token
from orderflow.application.placing import order_id_for
from orderflow.domain.identity import ANONYMOUS_SCOPE, scoped_key, token_digest
from orderflow.domain.model import Order, OrderLine
from orderflow.entrypoints.http.app import create_app
from orderflow.ports.idempotency import IdempotencyRecord
from tests.contracts.ownership_contract import JWT_KEY, customer
from tests.unit.conftest import place_command
from tests.unit.http.support import owner_of, valid_order
from tests.unit.http.test_http_ownership import with_catalog

SECRET = "the id secret of these tests, 32 bytes or more"
ROTATED = "the id secret after a rotation, 32 bytes or more"


def sqlite_flow(database: Path, secret: str = SECRET) -> Orderflow:
    app = orderflow.bootstrap(
        database_url=f"sqlite:///{database}",
        notify_url="memory://",
        auth_jwt_key=JWT_KEY,
        id_secret=secret,
    )
    app.migrate()
    return with_catalog(app)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "shop.sqlite3"


@pytest.fixture
def flow(database: Path) -> Iterator[Orderflow]:
    app = sqlite_flow(database)
    yield app
    app.close()


@pytest.fixture
def client(flow: Orderflow) -> FlaskClient:
    return create_app(flow).test_client()


def test_a_keyed_orders_token_is_nowhere_in_the_database_file_yet_a_replay_answers_it(
    flow: Orderflow, client: FlaskClient, database: Path
) -> None:
    alice = customer("alice")
    requests = [  # (path, body, credentials, the scope of the key)
        ("/api/orders", valid_order(), {}, ANONYMOUS_SCOPE),
        ("/api/orders", valid_order(), alice, "customer:alice"),
        ("/order", {"product": "Laptop", "quantity": 1}, {}, ANONYMOUS_SCOPE),
    ]
    placed = []
    for n, (path, body, credentials, scope) in enumerate(requests):
        key = f"checkout-{n}"
        headers = {**credentials, "Idempotency-Key": key}
        first = client.post(path, json=body, headers=headers)
        again = client.post(path, json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers["Idempotent-Replayed"] == "true"
        token = first.get_json()["access_token"]
        assert again.get_json()["access_token"] == token
        read = client.get(
            f"/api/orders/{first.get_json()['id']}", headers=owner_of(again.get_json())
        )
        assert read.status_code == 200
        with flow.uow_factory() as uow:
            record = uow.idempotency.get(scoped_key(scope, key))
        assert record is not None and "access_token" not in record.response
        assert token not in json.dumps(record.response, default=str)
        placed.append((first.get_json()["id"], token))

    # Every byte SQLite keeps (the file, its write-ahead log, its index).
    stored = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    for order_id, token in placed:
        assert order_id.encode() in stored  # the orders are in these bytes
        assert token_digest(token).encode() in stored  # and their tokens' digests
        assert token.encode() not in stored
        assert token.removeprefix("oft_").encode() not in stored


def test_a_record_of_the_old_release_never_answers_its_clear_token(flow: Orderflow) -> None:
    """An older release placed this order with a random token and kept the
    token in clear in the key's record: the replay drops it, and the token
    recomputed now is not the order's, so the replay carries none."""
    command = place_command(("mouse", 1), key="placed-by-the-old-release")
    stale = new_order_token()
    order = Order.place(
        order_id=order_id_for(command, secret=SECRET.encode()),
        customer=command.customer,
        items=(OrderLine("mouse", 1, Decimal("19.90")),),
        payment_method=command.payment_method,
        now=flow.container.clock().now(),
        access_token_digest=token_digest(stale),
    )
    response = {**order.to_dict(), "access_token": stale}
    order.events.clear()
    with flow.uow_factory() as uow:
        uow.orders.add(order)
        uow.idempotency.add(
            IdempotencyRecord(
                key=scoped_key(ANONYMOUS_SCOPE, "placed-by-the-old-release"),
                fingerprint=command.fingerprint(),
                order_id=order.id,
                response=response,
                created_at=order.created_at,
            )
        )
        uow.commit()

    replay = flow.placement.place(command)

    assert (replay.created, replay.order["id"]) == (False, order.id)
    assert replay.access_token is None
    assert "access_token" not in replay.order
    assert stale not in json.dumps(replay.order, default=str)


def test_after_the_secret_is_rotated_a_replay_answers_the_order_without_a_token(
    flow: Orderflow, database: Path
) -> None:
    command = place_command(("mouse", 1), key="before-the-rotation")
    first = flow.placement.place(command)
    rotated = sqlite_flow(database, ROTATED)
    try:
        replay = rotated.placement.place(command)
    finally:
        rotated.close()

    assert first.access_token is not None
    # The record still answers the first order; the token the new secret
    # derives would not open it, so none is answered.
    assert (replay.created, replay.order["id"]) == (False, first.order["id"])
    assert replay.access_token is None
