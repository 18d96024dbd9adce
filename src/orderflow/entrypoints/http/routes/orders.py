"""/api/orders: place (idempotent with Idempotency-Key), read, follow and cancel orders."""

from __future__ import annotations

from flask import Flask, Response

from orderflow.application import PlacementResult
from orderflow.entrypoints.http import params
from orderflow.entrypoints.http.body import json_body, validated
from orderflow.entrypoints.http.context import current_orderflow, json_response
from orderflow.entrypoints.http.schemas import OrderRequest

REPLAYED_HEADER = "Idempotent-Replayed"


def created(result: PlacementResult, body: object, location: str) -> Response:
    """201 for a new order and for a replay alike: a retry must see what the
    first attempt would have seen, plus a header saying it is a replay."""
    headers = {"Location": location}
    if not result.created:
        headers[REPLAYED_HEADER] = "true"
    return json_response(body, 201, headers)


def place_order() -> Response:
    key = params.idempotency_key()
    command = validated(OrderRequest, json_body()).to_command(key)
    result = current_orderflow().placement.place(command)
    return created(result, result.order, f"/api/orders/{result.order['id']}")


def get_order(order_id: str) -> Response:
    order = current_orderflow().queries.get(params.order_id(order_id))
    return json_response(order.to_dict())


def order_events(order_id: str) -> Response:
    """The order's timeline, read like the order itself (cache-aside)."""
    order = current_orderflow().queries.get(params.order_id(order_id))
    return json_response(
        {"order_id": order.id, "events": [step.to_dict() for step in order.history]}
    )


def cancel_order(order_id: str) -> Response:
    # No body is read: a cancel needs none, whatever its Content-Type says.
    order = current_orderflow().cancellation.cancel(params.order_id(order_id))
    return json_response(order.to_dict())


def register(app: Flask) -> None:
    app.add_url_rule("/api/orders", "place_order", place_order, methods=["POST"])
    app.add_url_rule("/api/orders/<order_id>", "get_order", get_order, methods=["GET"])
    app.add_url_rule("/api/orders/<order_id>/events", "order_events", order_events, methods=["GET"])
    app.add_url_rule(
        "/api/orders/<order_id>/cancel", "cancel_order", cancel_order, methods=["POST"]
    )
