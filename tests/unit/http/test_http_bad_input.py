"""The contract: bad input gets a 4xx, names the offending field, and changes nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.unit.http.support import Stored, assert_problem, valid_order

CUSTOMER = valid_order()["customer"]
ITEM = {"product_id": "laptop-14", "quantity": 1}


def with_customer(**changes: Any) -> dict[str, Any]:
    return valid_order(customer={**CUSTOMER, **changes})


def with_item(**changes: Any) -> dict[str, Any]:
    return valid_order(items=[{**ITEM, **changes}])


def without(field: str) -> dict[str, Any]:
    body = valid_order()
    del body[field]
    return body


def customer_without(field: str) -> dict[str, Any]:
    customer = dict(CUSTOMER)
    del customer[field]
    return valid_order(customer=customer)


def item_without(field: str) -> dict[str, Any]:
    item = dict(ITEM)
    del item[field]
    return valid_order(items=[item])


GT = {"$gt": ""}

# (case id, body, field the problem must name)
INVALID_BODIES: list[tuple[str, Any, str]] = [
    # missing fields
    ("no customer", without("customer"), "customer"),
    ("no items", without("items"), "items"),
    ("no payment method", without("payment_method"), "payment_method"),
    ("no name", customer_without("name"), "customer.name"),
    ("no email", customer_without("email"), "customer.email"),
    ("no address", customer_without("address"), "customer.address"),
    ("no product id", item_without("product_id"), "items[0].product_id"),
    ("no quantity", item_without("quantity"), "items[0].quantity"),
    ("empty object", {}, "customer"),
    # wrong types (strict: nothing is coerced)
    ("body is a list", [valid_order()], "body"),
    ("body is a string", "order", "body"),
    ("body is null", None, "body"),
    ("customer is a string", valid_order(customer="Ada"), "customer"),
    ("items is an object", valid_order(items=ITEM), "items"),
    ("item is a list", valid_order(items=[["laptop-14", 1]]), "items[0]"),
    ("quantity is a string", with_item(quantity="1"), "items[0].quantity"),
    ("quantity is a float", with_item(quantity=1.0), "items[0].quantity"),
    ("quantity is fractional", with_item(quantity=1.5), "items[0].quantity"),
    ("quantity is a boolean", with_item(quantity=True), "items[0].quantity"),
    ("quantity is null", with_item(quantity=None), "items[0].quantity"),
    ("product id is a number", with_item(product_id=14), "items[0].product_id"),
    ("name is a number", with_customer(name=42), "customer.name"),
    ("email is a list", with_customer(email=["ada@example.com"]), "customer.email"),
    ("payment method is a number", valid_order(payment_method=1), "payment_method"),
    # quantities and counts
    ("quantity zero", with_item(quantity=0), "items[0].quantity"),
    ("quantity negative", with_item(quantity=-1), "items[0].quantity"),
    ("quantity absurd", with_item(quantity=10**9), "items[0].quantity"),
    ("quantity huge", with_item(quantity=10**30), "items[0].quantity"),
    ("quantity just over", with_item(quantity=1001), "items[0].quantity"),
    ("no items at all", valid_order(items=[]), "items"),
    ("too many items", valid_order(items=[ITEM] * 101), "items"),
    # enumerations and formats
    ("unknown payment method", valid_order(payment_method="bitcoin"), "payment_method"),
    ("payment method wrong case", valid_order(payment_method="CARD"), "payment_method"),
    ("email without at", with_customer(email="ada.example.com"), "customer.email"),
    ("email without domain dot", with_customer(email="ada@localhost"), "customer.email"),
    ("email with spaces", with_customer(email="ada lovelace@example.com"), "customer.email"),
    ("blank name", with_customer(name="   "), "customer.name"),
    ("empty address", with_customer(address=""), "customer.address"),
    ("name too long", with_customer(name="x" * 201), "customer.name"),
    ("address too long", with_customer(address="x" * 501), "customer.address"),
    ("product id with slash", with_item(product_id="../etc"), "items[0].product_id"),
    ("product id too long", with_item(product_id="a" * 65), "items[0].product_id"),
    ("product id empty", with_item(product_id=""), "items[0].product_id"),
    # unicode and control characters
    ("nul in name", with_customer(name="Ada\u0000"), "customer.name"),
    ("bell in name", with_customer(name="Ada\x07"), "customer.name"),
    ("newline in address", with_customer(address="12 St\nLondon"), "customer.address"),
    ("C1 control in address", with_customer(address="12\u0085St"), "customer.address"),
    ("lone surrogate in name", with_customer(name="Ada\ud800"), "customer.name"),
    ("escape in email", with_customer(email="ada\x1b@example.com"), "customer.email"),
    ("non-ascii product id", with_item(product_id="laptöp"), "items[0].product_id"),
    # fields a client may not set, or that do not exist
    ("client sets a price", with_item(unit_price="0.01"), "items[0]"),
    ("client sets the total", valid_order(total="0.00"), "body"),
    ("client sets the status", valid_order(status="completed"), "body"),
    ("client sets the id", valid_order(id="0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69"), "body"),
    ("unknown customer field", with_customer(phone="123"), "customer"),
    # MongoDB operator objects, anywhere
    ("operator at the top", {**valid_order(), "$where": "1"}, "body"),
    ("operator as customer", valid_order(customer=GT), "body"),
    ("operator as name", with_customer(name=GT), "body"),
    ("operator as email", with_customer(email={"$ne": None}), "body"),
    ("operator as product id", with_item(product_id=GT), "body"),
    ("operator as quantity", with_item(quantity={"$gte": 1}), "body"),
    ("operator as payment", valid_order(payment_method={"$in": ["card"]}), "body"),
    ("operator in an item", valid_order(items=[ITEM, {**ITEM, "$set": 1}]), "body"),
    ("operator deep", valid_order(items=[{"x": [{"y": {"$gt": ""}}]}]), "body"),
    ("bare operator body", GT, "body"),
    # domain rules: an unknown product is refused at placement, not later
    ("unknown product", with_item(product_id="no-such-product"), "items[0].product_id"),
    (
        "unknown second product",
        valid_order(items=[ITEM, {**ITEM, "product_id": "nope"}]),
        "items[1].product_id",
    ),
]


def _cases(path: str) -> list[Any]:
    # The short form has fields of its own (test_http_short_form); the
    # body-level cases apply to it as they are.
    return [
        pytest.param(path, body, field, id=f"{path} {case}")
        for case, body, field in INVALID_BODIES
        if path == "/api/orders" or (field == "body" and not case.startswith("client sets"))
    ]


@pytest.mark.parametrize(("path", "body", "field"), _cases("/api/orders") + _cases("/order"))
def test_invalid_bodies_are_422_naming_the_field_and_store_nothing(
    client: FlaskClient, stored: Callable[[], Stored], path: str, body: Any, field: str
) -> None:
    before = stored()

    response = client.post(path, data=json.dumps(body), content_type="application/json")

    assert_problem(response, 422, field)
    assert stored() == before


def test_every_error_of_a_body_is_reported_at_once(client: FlaskClient) -> None:
    body = {"customer": {"name": 1}, "items": [{"product_id": "x", "quantity": 0}]}

    problem = assert_problem(client.post("/api/orders", json=body), 422)

    assert {error.field for error in problem.errors} >= {
        "customer.name",
        "customer.email",
        "customer.address",
        "items[0].quantity",
        "payment_method",
    }


def test_an_operator_key_spelled_with_an_escape_is_refused(client: FlaskClient) -> None:
    raw = '{"customer": {"\\u0024gt": ""}}'  # the key is "$gt": no "$" byte in the body

    response = client.post("/api/orders", data=raw, content_type="application/json")

    problem = assert_problem(response, 422, "body")
    assert problem.detail.startswith("the body contains operator keys")


KEY_CHARACTERS = "a$\u00e9\\"  # "$" often; a backslash, which JSON escapes


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(KEY_CHARACTERS, max_size=5),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(KEY_CHARACTERS, max_size=4), children, max_size=3)
        ),
        max_leaves=60,
    ),
    st.booleans(),
)
def test_the_byte_check_skips_only_bodies_the_walk_would_pass(value: Any, escape: bool) -> None:
    """json_body walks a body for `$` keys and depth only when
    may_hold_operators(raw) says it must: whenever it says not, the walk
    finds nothing and raises nothing."""
    from orderflow.entrypoints.http.body import may_hold_operators, reject_operators

    raw = json.dumps(value, ensure_ascii=False).encode()
    if escape:  # "$" as JSON may also spell it
        raw = raw.replace(b"$", b"\\u0024")
    if not may_hold_operators(raw):
        reject_operators(json.loads(raw))  # raises ApiProblem if it finds anything


def test_operator_keys_are_reported_once_without_their_names(client: FlaskClient) -> None:
    body = {f"$k{i}": i for i in range(500)}

    problem = assert_problem(client.post("/api/orders", json=body), 422, "body")

    assert len(problem.errors) == 1
    assert "$k" not in json.dumps(problem.model_dump())


MALFORMED: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("truncated", b'{"customer": {'),
    ("single quotes", b"{'customer': 1}"),
    ("trailing comma", b'{"items": [1,],}'),
    ("not json", b"customer=Ada"),
    ("NaN", b'{"items": [{"product_id": "mouse", "quantity": NaN}]}'),
    ("Infinity", b'{"quantity": Infinity}'),
    ("invalid utf-8", b'{"customer": "\xff\xfe"}'),
    ("utf-16", '{"items": []}'.encode("utf-16")),
    ("utf-8 bom", b"\xef\xbb\xbf{}"),
    ("duplicate keys", b'{"payment_method": "card", "payment_method": "paypal"}'),
    ("nested duplicate keys", b'{"items": [{"quantity": 1, "quantity": 1000000}]}'),
    ("deeply nested", b"[" * 5000 + b"]" * 5000),
    ("nested over the limit", b'{"a":' * 40 + b"1" + b"}" * 40),
    ("integer with 5000 digits", b'{"quantity": ' + b"9" * 5000 + b"}"),
]


@pytest.mark.parametrize("raw", [pytest.param(raw, id=case) for case, raw in MALFORMED])
@pytest.mark.parametrize("path", ["/api/orders", "/order"])
def test_malformed_json_is_400_and_stores_nothing(
    client: FlaskClient, stored: Callable[[], Stored], raw: bytes, path: str
) -> None:
    before = stored()

    response = client.post(path, data=raw, content_type="application/json")

    assert_problem(response, 400, "body")
    assert stored() == before


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json-patch+json",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
@pytest.mark.parametrize("path", ["/api/orders", "/order"])
def test_a_body_that_is_not_json_is_415_and_stores_nothing(
    client: FlaskClient,
    stored: Callable[[], Stored],
    content_type: str | None,
    path: str,
) -> None:
    before = stored()
    body = json.dumps(
        valid_order() if path == "/api/orders" else {"product": "Laptop", "quantity": 1}
    )

    response = client.post(path, data=body, content_type=content_type)

    assert_problem(response, 415, "Content-Type")
    assert stored() == before


@pytest.mark.parametrize("path", ["/api/orders", "/order"])
def test_an_oversized_body_is_413_and_stores_nothing(
    client: FlaskClient, stored: Callable[[], Stored], path: str
) -> None:
    before = stored()
    body = valid_order(note="x" * (64 * 1024))

    response = client.post(path, json=body)

    assert_problem(response, 413)
    assert stored() == before


def test_an_oversized_chunked_body_is_413(app: Flask, stored: Callable[[], Stored]) -> None:
    # A chunked upload has no Content-Length; the WSGI server says it ends the stream.
    environ = EnvironBuilder(
        path="/api/orders",
        method="POST",
        headers=Headers({"Content-Type": "application/json", "Transfer-Encoding": "chunked"}),
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(b'{"customer": "' + b"x" * (70 * 1024) + b'"}')
    environ["wsgi.input_terminated"] = True
    before = stored()

    chunks, status, headers = run_wsgi_app(app, environ, buffered=True)

    assert status.startswith("413")
    assert Headers(headers)["Content-Type"] == "application/problem+json"
    assert json.loads(b"".join(chunks))["status"] == 413
    assert stored() == before


def test_control_character_check_is_unicode_cc_and_cs() -> None:
    """The regex behind `_Printable` refuses exactly the code points Unicode
    puts in Cc (control) and Cs (surrogate), and nothing else."""
    import sys
    import unicodedata

    from orderflow.entrypoints.http.schemas import has_control_characters

    differs = [
        code
        for code in range(sys.maxunicode + 1)
        if has_control_characters(chr(code)) != (unicodedata.category(chr(code)) in ("Cc", "Cs"))
    ]
    assert differs == []
    assert not has_control_characters("Ada Lovelace, 12 Rue de l'Été")
