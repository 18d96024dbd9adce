"""GET /api/products (search, paginated) and GET /api/products/<id>."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.domain.model import Product
from orderflow.entrypoints.http.schemas import ProductOut, ProductPageOut
from tests.unit.http.support import CATALOG, assert_problem


def names(response_json: dict[str, object]) -> list[str]:
    page = ProductPageOut.model_validate(response_json)
    return [product.name for product in page.items]


def test_without_parameters_the_first_page_of_everything_is_listed(client: FlaskClient) -> None:
    response = client.get("/api/products")

    assert response.status_code == 200
    page = ProductPageOut.model_validate(response.get_json())
    assert (page.total, page.limit, page.offset) == (len(CATALOG), 20, 0)
    assert [p.name for p in page.items] == ["Desk Lamp", "Laptop", "Mouse", "USB-C Hub"]
    assert page.items[1].price == "999.00"


def test_search_is_a_case_insensitive_substring_of_name_or_description(
    client: FlaskClient,
) -> None:
    response = client.get("/api/products?search=LAPTOP")

    assert names(response.get_json()) == ["Laptop", "Mouse"]  # Mouse: "...for your laptop"


def test_search_pages_with_limit_and_offset(client: FlaskClient) -> None:
    response = client.get("/api/products?limit=2&offset=1")

    body = response.get_json()
    assert names(body) == ["Laptop", "Mouse"]
    assert (body["total"], body["limit"], body["offset"]) == (4, 2, 1)


def test_a_total_below_the_cap_is_exact(client: FlaskClient) -> None:
    body = client.get("/api/products?search=laptop").get_json()

    assert list(body) == ["items", "total", "total_exact", "limit", "offset"]
    assert (body["total"], body["total_exact"]) == (2, True)


def test_past_the_count_cap_the_total_is_a_lower_bound_beyond_the_page(
    client: FlaskClient, flow: Orderflow
) -> None:
    flow.catalog.upsert_many(
        [
            Product(f"bulk-{i:04d}", f"Bulk item {i:04d}", "filler", Decimal("1.00"), 1)
            for i in range(1100)
        ]
    )

    first = client.get("/api/products?search=bulk").get_json()
    assert (first["total"], first["total_exact"]) == (1001, False)
    assert [item["id"] for item in first["items"]][:2] == ["bulk-0000", "bulk-0001"]

    deep = client.get("/api/products?search=bulk&limit=50&offset=1040").get_json()
    assert [item["id"] for item in deep["items"]] == [f"bulk-{i:04d}" for i in range(1040, 1090)]
    assert (deep["total"], deep["total_exact"]) == (1091, False)  # > offset + limit

    last = client.get("/api/products?search=bulk&limit=100&offset=1050").get_json()
    assert len(last["items"]) == 50
    assert (last["total"], last["total_exact"]) == (1100, True)


def test_an_offset_past_the_end_is_an_empty_page(client: FlaskClient) -> None:
    body = client.get("/api/products?offset=100").get_json()

    assert body["items"] == []
    assert body["total"] == 4


def test_search_text_is_a_literal_not_a_pattern(client: FlaskClient) -> None:
    for text in ["%", "_", ".*", "[a-z]", "'; DROP TABLE products; --", "\\"]:
        response = client.get("/api/products", query_string={"search": text})
        assert response.status_code == 200, text
        assert response.get_json()["items"] == [], text


def test_search_accepts_unicode(client: FlaskClient) -> None:
    response = client.get("/api/products", query_string={"search": "Straße 日本"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=1000001", "offset"),
        ("search=" + "a" * 201, "search"),
        ("search=%00", "search"),
        ("search=a%0Ab", "search"),
        ("limit=1&limit=2", "limit"),
        ("sort=name", "query"),
        ("search[$gt]=", "query"),
        ("$where=1", "query"),
        ("search=%7B%22%24gt%22%3A%20%22%22%7D", "search"),  # {"$gt": ""}
        ("search=%7B%22name%22%3A%7B%22%24regex%22%3A%22.*%22%7D%7D", "search"),
        ("search=%5B%7B%22%24ne%22%3Anull%7D%5D", "search"),  # [{"$ne":null}]
    ],
)
def test_bad_query_parameters_are_400_naming_them(
    client: FlaskClient, query: str, field: str
) -> None:
    response = client.get(f"/api/products?{query}")

    assert_problem(response, 400, field)


def test_a_search_for_braces_without_operators_is_plain_text(client: FlaskClient) -> None:
    response = client.get("/api/products", query_string={"search": '{"name": "x"}'})

    assert response.status_code == 200


def test_one_product_by_id(client: FlaskClient) -> None:
    response = client.get("/api/products/laptop-14")

    assert response.status_code == 200
    assert ProductOut.model_validate(response.get_json()) == ProductOut(
        id="laptop-14",
        name="Laptop",
        description="14-inch ultralight laptop",
        price="999.00",
        stock=50,
    )


def test_an_unknown_product_is_404(client: FlaskClient) -> None:
    assert_problem(client.get("/api/products/no-such-thing"), 404, "id")


@pytest.mark.parametrize(
    "bad_id",
    [
        "%24gt",  # $gt
        "%7B%22%24gt%22%3A%20%22%22%7D",  # {"$gt": ""}
        "a" * 65,
        "laptop%2014",
        "laptop%00",
        "l%C3%A4ptop",
        "a;b",
        "%27%20OR%201%3D1",
    ],
)
def test_a_malformed_product_id_is_400(client: FlaskClient, bad_id: str) -> None:
    assert_problem(client.get(f"/api/products/{bad_id}"), 400, "id")
