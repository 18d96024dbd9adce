"""/api/orders: place (idempotent with Idempotency-Key), list, read, follow
and cancel orders.

Every /api/orders/<id>... route needs a principal that may see the order:
none is 401; someone else's order is 404, as a missing one (docs/SECURITY.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request

from orderflow.application import PlacementResult
from orderflow.domain.model import unit_lines
from orderflow.entrypoints.http import params
from orderflow.entrypoints.http.body import (
    check_json_content_type,
    json_body,
    parse_body,
    validated,
)
from orderflow.entrypoints.http.context import current_orderflow, json_response
from orderflow.entrypoints.http.identity import current_principal, required_principal
from orderflow.entrypoints.http.problems import FieldError, unprocessable
from orderflow.entrypoints.http.quantity_caps import check_quantity_caps
from orderflow.entrypoints.http.schemas import OrderRequest
from orderflow.entrypoints.http.tracing import trace_headers

REPLAYED_HEADER = "Idempotent-Replayed"
# Stored with an order, never shown: who owns it, its token's digest, and
# the stock it holds (a cancel's answer says what went back).
_INTERNAL = frozenset({"owner", "access_token_digest", "reserved"})


def order_view(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order as the API shows it (OrderOut)."""
    return {name: value for name, value in order.items() if name not in _INTERNAL}


def created(result: PlacementResult, body: object, location: str) -> Response:
    """201 for a new order and for a replay alike: a retry must see what the
    first attempt would have seen, plus a header saying it is a replay."""
    headers = {"Location": location}
    if not result.created:
        headers[REPLAYED_HEADER] = "true"
    # The access token is in the body: no cache anywhere may keep it.
    headers["Cache-Control"] = "no-store"
    return json_response(body, 201, headers)


def place_order() -> Response:
    key = params.idempotency_key()
    principal = current_principal()
    order_request = validated(OrderRequest, json_body())
    check_quantity_caps(
        [item.quantity for item in order_request.items],
        line_field=lambda index: f"items[{index}].quantity",
        order_field="items",
    )
    command = order_request.to_command(key, principal, trace_headers())
    result = current_orderflow().placement.place(command)
    body = {**order_view(result.order), "access_token": result.access_token}
    return created(result, body, f"/api/orders/{result.order['id']}")


def list_orders() -> Response:
    principal = required_principal()
    query = params.order_list_query()
    # One more than the page: whether another page exists, without a count.
    orders = current_orderflow().queries.list_owned(
        principal, limit=query.limit + 1, offset=query.offset
    )
    more = len(orders) > query.limit
    return json_response(
        {
            "items": [order_view(order.to_dict()) for order in orders[: query.limit]],
            "limit": query.limit,
            "offset": query.offset,
            "next_offset": query.offset + query.limit if more else None,
        }
    )


def get_order(order_id: str) -> Response:
    principal = required_principal()
    order = current_orderflow().queries.get_as(principal, params.order_id(order_id))
    # The version counts the order's changes, so it names this view: a client
    # that holds it (If-None-Match) gets 304 without the order built or sent
    # again. Private: it holds customer data, which no shared cache may keep;
    # no-cache: a client asks again every time, it never assumes.
    etag = f"v{order.version}"
    headers = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache"}
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    return json_response(order_view(order.to_dict()), headers=headers)


def order_events(order_id: str) -> Response:
    """The order's timeline, read like the order itself (cache-aside)."""
    principal = required_principal()
    order = current_orderflow().queries.get_as(principal, params.order_id(order_id))
    return json_response(
        {"order_id": order.id, "events": [step.to_dict() for step in order.history]}
    )


def cancel_order(order_id: str) -> Response:
    principal = required_principal()
    _no_cancel_fields()
    cancelled = current_orderflow().cancellation.cancel(
        params.order_id(order_id), principal=principal
    )
    body = {**order_view(cancelled.order.to_dict()), "restocked": unit_lines(cancelled.restocked)}
    return json_response(body)


def _no_cancel_fields() -> None:
    """A cancel is a state change: its Content-Type must be application/json
    (415 otherwise), which no cross-site form can send. The body may be
    empty or `{}`; a cancel takes no fields."""
    check_json_content_type()
    raw = request.get_data(cache=False)
    if raw.strip() and parse_body(raw) != {}:
        raise unprocessable([FieldError("body", "must be empty or {}")], "a cancel takes no fields")


def register(app: Flask) -> None:
    app.add_url_rule("/api/orders", "place_order", place_order, methods=["POST"])
    app.add_url_rule("/api/orders", "list_orders", list_orders, methods=["GET"])
    app.add_url_rule("/api/orders/<order_id>", "get_order", get_order, methods=["GET"])
    app.add_url_rule("/api/orders/<order_id>/events", "order_events", order_events, methods=["GET"])
    app.add_url_rule(
        "/api/orders/<order_id>/cancel", "cancel_order", cancel_order, methods=["POST"]
    )
