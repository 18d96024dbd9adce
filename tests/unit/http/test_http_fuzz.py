"""Random bodies for the two order intakes: never a 5xx, and a 4xx stores
nothing and never quotes MARKER, which the bodies, keys and headers carry."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orderflow import Orderflow
from tests.unit.http.support import snapshot

MARKER = "zq-marker-7f3a"  # in keys, values and headers; never in an error

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "$gt", "Laptop", "laptop-14", "card", "ada@example.com", "\x00", MARKER])
)
KEYS = st.text(max_size=12) | st.sampled_from(
    ["$gt", "$where", "$ne", "customer", "items", MARKER, "$" + MARKER]
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values, sometimes anything: reaches deep validation."""
    return st.one_of(valid, valid, JSON)


CUSTOMERS = st.fixed_dictionaries(
    {
        "name": maybe(st.text(min_size=1, max_size=40)),
        "email": maybe(st.emails() | st.text(max_size=20)),
        "address": maybe(st.text(min_size=1, max_size=40)),
    },
    optional={"phone": JSON},
)
ITEMS = st.lists(
    st.fixed_dictionaries(
        {
            "product_id": maybe(st.sampled_from(["laptop-14", "mouse", "nope", "$gt", "", MARKER])),
            "quantity": maybe(st.integers(min_value=-5, max_value=2000)),
        },
        optional={"unit_price": JSON},
    ),
    max_size=4,
)
PLAIN = st.text(st.characters(codec="utf-8", categories=["L", "N", "Zs"]), min_size=1, max_size=30)
VALID_ORDERS = st.fixed_dictionaries(
    {
        "customer": st.fixed_dictionaries({"name": PLAIN, "email": st.emails(), "address": PLAIN}),
        "items": st.lists(
            st.fixed_dictionaries(
                {
                    "product_id": st.sampled_from(["laptop-14", "mouse", "desk-lamp"]),
                    "quantity": st.integers(min_value=1, max_value=1000),
                }
            ),
            min_size=1,
            max_size=3,
        ),
        "payment_method": st.sampled_from(["card", "paypal", "bank_transfer"]),
    }
)
MESSY_ORDERS = st.fixed_dictionaries(
    {},
    optional={
        "customer": maybe(CUSTOMERS),
        "items": maybe(ITEMS),
        "payment_method": maybe(st.sampled_from(["card", "paypal", "bitcoin", "CARD"])),
        "$where": JSON,
    },
)
SHORT_ORDERS = st.fixed_dictionaries(
    {},
    optional={
        "product": maybe(st.sampled_from(["Laptop", "laptop-14", "MOUSE", "Unicorn", ""])),
        "quantity": maybe(st.integers(min_value=-5, max_value=2000)),
        "customer": maybe(CUSTOMERS),
        "payment_method": maybe(st.sampled_from(["card", "cash_on_delivery", "gold"])),
    },
)


def body_bytes(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        strategy.map(lambda body: json.dumps(body).encode()),
        JSON.map(lambda body: json.dumps(body).encode()),
        st.binary(max_size=64),
    )


def check(client: FlaskClient, flow: Orderflow, path: str, raw: bytes, key: str | None) -> None:
    before = snapshot(flow)
    headers = {"Idempotency-Key": key} if key is not None else {}

    response = client.post(path, data=raw, content_type="application/json", headers=headers)

    event(f"status {response.status_code}")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"], "a 4xx names what was wrong"
        assert MARKER not in response.get_data(as_text=True), "an error quotes the request"
        assert snapshot(flow) == before
    else:
        assert response.status_code == 201


KEYS_HEADER = (
    st.none()
    | st.sampled_from(["k1", "k2", MARKER])
    | st.text(st.characters(exclude_characters="\r\n"), max_size=8)
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(raw=body_bytes(VALID_ORDERS | MESSY_ORDERS), key=KEYS_HEADER)
def test_random_full_orders_never_fail_the_server(
    client: FlaskClient, flow: Orderflow, raw: bytes, key: str | None
) -> None:
    check(client, flow, "/api/orders", raw, key)


@FUZZ
@given(raw=body_bytes(SHORT_ORDERS), key=KEYS_HEADER)
def test_random_short_orders_never_fail_the_server(
    client: FlaskClient, flow: Orderflow, raw: bytes, key: str | None
) -> None:
    check(client, flow, "/order", raw, key)
