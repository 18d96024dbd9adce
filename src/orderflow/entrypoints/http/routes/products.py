"""/api/products: search the catalog (paginated) and read one product."""

from __future__ import annotations

from flask import Flask, Response

from orderflow.entrypoints.http import params
from orderflow.entrypoints.http.context import current_orderflow, json_response


def search_products() -> Response:
    query = params.product_query()
    page = current_orderflow().catalog.search(
        text=query.search, limit=query.limit, offset=query.offset
    )
    return json_response(
        {
            "items": [product.to_dict() for product in page.items],
            "total": page.total,
            "total_exact": page.total_exact,
            "limit": query.limit,
            "offset": query.offset,
        }
    )


def get_product(product_id: str) -> Response:
    product = current_orderflow().catalog.get(params.product_id(product_id))
    return json_response(product.to_dict())


def register(app: Flask) -> None:
    app.add_url_rule("/api/products", "search_products", search_products, methods=["GET"])
    app.add_url_rule("/api/products/<product_id>", "get_product", get_product, methods=["GET"])
