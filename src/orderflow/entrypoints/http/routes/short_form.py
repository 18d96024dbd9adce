"""/order: the first seed system's API, kept for its clients.

POST {"product": name-or-id, "quantity": n} places a one-line order;
customer and payment_method are optional (defaults in schemas.py). Its 201
shows {id, product, product_id, quantity, status, total, failure_reason}
(the order's first line and its whole total) and the order's access_token.

GET /order/<id> stays open, as in the seed, and so shows only what anyone
holding the id may see: {id, product, quantity, status}."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.errors import InfrastructureError, InvalidInput, ProductNotFound
from orderflow.domain.model import Product
from orderflow.entrypoints.http import params
from orderflow.entrypoints.http.body import validated_body
from orderflow.entrypoints.http.context import current_orderflow, json_response
from orderflow.entrypoints.http.identity import current_principal
from orderflow.entrypoints.http.problems import FieldError, unprocessable
from orderflow.entrypoints.http.quantity_caps import check_quantity_caps
from orderflow.entrypoints.http.routes.orders import created
from orderflow.entrypoints.http.schemas import ShortOrderRequest
from orderflow.entrypoints.http.tracing import trace_headers

log = logging.getLogger(__name__)


def status_view(order: Mapping[str, Any], product_name: str) -> dict[str, Any]:
    first = order["items"][0]
    return {
        "id": order["id"],
        "product": product_name,
        "quantity": first["quantity"],
        "status": order["status"],
    }


def short_view(order: Mapping[str, Any], product_name: str) -> dict[str, Any]:
    first = order["items"][0]
    return {
        "id": order["id"],
        "product": product_name,
        "product_id": first["product_id"],
        "quantity": first["quantity"],
        "status": order["status"],
        "total": order["total"],
        "failure_reason": order["failure_reason"],
    }


def _resolve(name_or_id: str) -> Product:
    try:
        return current_orderflow().catalog.resolve(name_or_id)
    except ProductNotFound:
        raise unprocessable(
            [FieldError("product", "no product has this id or name")],
            "unknown product",
        ) from None


def place_short_order() -> Response:
    key = params.idempotency_key()
    principal = current_principal()
    body = validated_body(ShortOrderRequest)
    check_quantity_caps([body.quantity], line_field=lambda _: "quantity", order_field="quantity")
    product = _resolve(body.product)
    command = PlaceOrder(
        customer=body.customer.to_domain(),
        items=(LineRequest(product.id, body.quantity),),
        payment_method=body.payment_method,
        idempotency_key=key,
        principal=principal,
        trace_headers=trace_headers(),
    )
    try:
        result = current_orderflow().placement.place(command)
    except InvalidInput as exc:
        # The product left the catalog between resolving and placing.
        field = "product" if exc.field.startswith("items[0]") else exc.field
        raise unprocessable([FieldError(field, exc.message)], str(exc)) from None
    order = result.order
    view = {**short_view(order, product.name), "access_token": result.access_token}
    return created(result, view, f"/order/{order['id']}")


def get_short_order(order_id: str) -> Response:
    orderflow = current_orderflow()
    order = orderflow.queries.get(params.order_id(order_id)).to_dict()
    product_id = order["items"][0]["product_id"]
    try:
        name = orderflow.catalog.get(product_id).name
    except (ProductNotFound, InfrastructureError) as exc:
        # The name is a courtesy; the order itself was read, so answer with the id.
        log.debug("no name for product %s: %r", product_id, exc)
        name = product_id
    return json_response(status_view(order, name))


def register(app: Flask) -> None:
    app.add_url_rule("/order", "place_short_order", place_short_order, methods=["POST"])
    app.add_url_rule("/order/<order_id>", "get_short_order", get_short_order, methods=["GET"])
