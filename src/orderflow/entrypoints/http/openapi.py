"""The OpenAPI 3.1 document of every route. Bodies come from the pydantic
models' JSON Schema (OpenAPI 3.1 schemas are JSON Schema 2020-12, which is
what pydantic emits), so the document cannot drift from the validation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import orderflow
from orderflow.entrypoints.http import schemas as s
from orderflow.entrypoints.http.params import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY
from orderflow.entrypoints.http.problems import PROBLEM_JSON

_REQUESTS: tuple[type[BaseModel], ...] = (s.OrderRequest, s.ShortOrderRequest, s.CancelRequest)
_RESPONSES: tuple[type[BaseModel], ...] = (
    s.OrderOut,
    s.PlacedOrderOut,
    s.OrderPageOut,
    s.ShortOrderStatusOut,
    s.OrderEventsOut,
    s.ProductOut,
    s.ProductPageOut,
    s.ShortOrderOut,
    s.ProblemOut,
    s.HealthOut,
    s.ReadinessOut,
)

_PROBLEMS = {
    "BadRequest": "Malformed id, query parameter, header or JSON.",
    "Unauthorized": (
        "No credentials, or credentials that do not verify (unknown, revoked or "
        "expired): send `Authorization: Bearer <token>`."
    ),
    "Forbidden": "Known credentials that may not do this (an ops key cancelling).",
    "NotFound": "No such resource or route, or an order these credentials may not see.",
    "Conflict": "The order's status does not allow this.",
    "PayloadTooLarge": "The body exceeds the size limit.",
    "UnsupportedMediaType": "The body is not application/json (UTF-8).",
    "UnprocessableContent": (
        "Well-formed JSON that breaks the schema or a domain rule, or an "
        "Idempotency-Key reused with a different body."
    ),
    "ServiceUnavailable": "A dependency is down; retry after Retry-After seconds.",
    "InternalError": "An unexpected error (logged); still problem+json.",
}
_STATUS = {
    "BadRequest": "400",
    "Unauthorized": "401",
    "Forbidden": "403",
    "NotFound": "404",
    "Conflict": "409",
    "PayloadTooLarge": "413",
    "UnsupportedMediaType": "415",
    "UnprocessableContent": "422",
    "ServiceUnavailable": "503",
    "InternalError": "500",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema_name: str, media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": _ref("schemas", schema_name)}}


def _problems(*names: str) -> dict[str, Any]:
    return {_STATUS[name]: _ref("responses", name) for name in (*names, "InternalError")}


def _ok(description: str, schema_name: str, headers: dict[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {"description": description, "content": _json(schema_name)}
    if headers:
        response["headers"] = headers
    return response


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str,
    parameters: list[dict[str, Any]] | None = None,
    body: str | None = None,
    body_required: bool = True,
    security: list[dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if security is not None:
        operation["security"] = security
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {"required": body_required, "content": _json(body)}
    operation["responses"] = responses
    return operation


_CREATED_HEADERS = {
    "Location": {"description": "Where to read the order.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when an Idempotency-Key replayed the first response.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


# Every credential is a bearer token; which kinds a route takes is in its
# description. `{}` in a list: anonymous callers are welcome too.
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_BEARER_OR_NONE: list[dict[str, list[str]]] = [{}, {"bearer": []}]
_OPEN: list[dict[str, list[str]]] = []

_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "One of: the order's access token (`oft_...`, from the 201 that placed it:"
            " that order only); a customer JWT (its `sub` owns the orders placed with"
            " it); an API key (`ofk_...`, from `orderflow keys create`; role `shop`"
            " owns what it places, role `ops` reads every order)."
        ),
    }
}


def _components() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "validation") for model in _REQUESTS),
        *((model, "serialization") for model in _RESPONSES),
    ]
    _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
    responses = {
        name: {
            "description": description,
            "content": _json("ProblemOut", PROBLEM_JSON),
            **(
                {"headers": {"Retry-After": {"schema": {"type": "integer"}}}}
                if name == "ServiceUnavailable"
                else {}
            ),
        }
        for name, description in _PROBLEMS.items()
    }
    parameters = {
        "OrderId": {
            "name": "order_id",
            "in": "path",
            "required": True,
            "description": "The order's UUID (case-insensitive).",
            "schema": {"type": "string", "format": "uuid"},
        },
        "ProductId": {
            "name": "product_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": s.PRODUCT_ID_PATTERN},
        },
        "IdempotencyKey": {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": False,
            "description": (
                "Retrying with the same key and body returns the first response "
                "(kept at least 24 h); the same key with another body is a 422."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        },
        "Search": {
            "name": "search",
            "in": "query",
            "description": "Case-insensitive substring of the name or description.",
            "schema": {"type": "string", "maxLength": s.MAX_SEARCH, "default": ""},
        },
        "Limit": {
            "name": "limit",
            "in": "query",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": s.MAX_PAGE,
                "default": s.DEFAULT_PAGE,
            },
        },
        "Offset": {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": s.MAX_OFFSET, "default": 0},
        },
    }
    return {
        "schemas": definitions["$defs"],
        "responses": responses,
        "parameters": parameters,
        "securitySchemes": _SECURITY_SCHEMES,
    }


def _paths() -> dict[str, Any]:
    order_id = [_ref("parameters", "OrderId")]
    return {
        "/api/orders": {
            "post": _operation(
                "placeOrder",
                "Place an order (processed asynchronously; starts as pending)",
                {
                    "201": _ok(
                        "The order, durably stored, and its access token.",
                        "PlacedOrderOut",
                        _CREATED_HEADERS,
                    ),
                    **_problems(
                        "BadRequest",
                        "Unauthorized",
                        "PayloadTooLarge",
                        "UnsupportedMediaType",
                        "UnprocessableContent",
                        "ServiceUnavailable",
                    ),
                },
                tag="orders",
                parameters=[_ref("parameters", "IdempotencyKey")],
                body="OrderRequest",
                security=_BEARER_OR_NONE,
            ),
            "get": _operation(
                "listOrders",
                "The caller's own orders, newest first (customer token or API key)",
                {
                    "200": _ok("One page of the caller's orders.", "OrderPageOut"),
                    **_problems("BadRequest", "Unauthorized", "Forbidden", "ServiceUnavailable"),
                },
                tag="orders",
                parameters=[_ref("parameters", "Limit"), _ref("parameters", "Offset")],
                security=_BEARER,
            ),
        },
        "/api/orders/{order_id}": {
            "get": _operation(
                "getOrder",
                "Read an order",
                {
                    "200": _ok("The order.", "OrderOut"),
                    **_problems("BadRequest", "Unauthorized", "NotFound", "ServiceUnavailable"),
                },
                tag="orders",
                parameters=order_id,
                security=_BEARER,
            )
        },
        "/api/orders/{order_id}/events": {
            "get": _operation(
                "getOrderEvents",
                "An order's status timeline, oldest first",
                {
                    "200": _ok("Every status the order reached, with its time.", "OrderEventsOut"),
                    **_problems("BadRequest", "Unauthorized", "NotFound", "ServiceUnavailable"),
                },
                tag="orders",
                parameters=order_id,
                security=_BEARER,
            )
        },
        "/api/orders/{order_id}/stream": {
            "get": _operation(
                "streamOrder",
                "Follow an order's status live (Server-Sent Events)",
                {
                    "200": {
                        "description": (
                            "A text/event-stream: a `status` event (data: the order as"
                            " OrderOut, id: its version) now and at each change, ending"
                            " once the status is neither pending nor processing, or after"
                            " ORDERFLOW_STREAM_MAX_S (then open it again, after the"
                            " `retry:` it sent)."
                        ),
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_problems("BadRequest", "Unauthorized", "NotFound", "ServiceUnavailable"),
                },
                tag="orders",
                parameters=order_id,
                security=_BEARER,
            )
        },
        "/api/orders/{order_id}/cancel": {
            "post": _operation(
                "cancelOrder",
                "Cancel a pending order (Content-Type: application/json; body empty or {})",
                {
                    "200": _ok("The cancelled order.", "OrderOut"),
                    **_problems(
                        "BadRequest",
                        "Unauthorized",
                        "Forbidden",
                        "NotFound",
                        "Conflict",
                        "PayloadTooLarge",
                        "UnsupportedMediaType",
                        "UnprocessableContent",
                        "ServiceUnavailable",
                    ),
                },
                tag="orders",
                parameters=order_id,
                body="CancelRequest",
                body_required=False,
                security=_BEARER,
            )
        },
        "/api/products": {
            "get": _operation(
                "searchProducts",
                "Search the catalog, ordered by name",
                {
                    "200": _ok("One page of matches.", "ProductPageOut"),
                    **_problems("BadRequest", "ServiceUnavailable"),
                },
                tag="products",
                parameters=[
                    _ref("parameters", "Search"),
                    _ref("parameters", "Limit"),
                    _ref("parameters", "Offset"),
                ],
            )
        },
        "/api/products/{product_id}": {
            "get": _operation(
                "getProduct",
                "Read a product",
                {
                    "200": _ok("The product.", "ProductOut"),
                    **_problems("BadRequest", "NotFound", "ServiceUnavailable"),
                },
                tag="products",
                parameters=[_ref("parameters", "ProductId")],
            )
        },
        "/order": {
            "post": _operation(
                "placeShortOrder",
                "Place a one-line order by product name or id (the seed's API)",
                {
                    "201": _ok(
                        "The order, short view, and its access token.",
                        "ShortOrderOut",
                        _CREATED_HEADERS,
                    ),
                    **_problems(
                        "BadRequest",
                        "Unauthorized",
                        "PayloadTooLarge",
                        "UnsupportedMediaType",
                        "UnprocessableContent",
                        "ServiceUnavailable",
                    ),
                },
                tag="short form",
                parameters=[_ref("parameters", "IdempotencyKey")],
                body="ShortOrderRequest",
                security=_BEARER_OR_NONE,
            )
        },
        "/order/{order_id}": {
            "get": _operation(
                "getShortOrder",
                "An order's status by id, open to anyone (no customer data)",
                {
                    "200": _ok(
                        "The order's id, product, quantity and status.", "ShortOrderStatusOut"
                    ),
                    **_problems("BadRequest", "NotFound", "ServiceUnavailable"),
                },
                tag="short form",
                parameters=order_id,
                security=_OPEN,
            )
        },
        "/health": {
            "get": _operation(
                "health",
                "Liveness (touches no dependency)",
                {"200": _ok("The process is up.", "HealthOut")},
                tag="operations",
            )
        },
        "/ready": {
            "get": _operation(
                "ready",
                "Readiness: every dependency checked with a deadline",
                {
                    "200": _ok("Every dependency answered.", "ReadinessOut"),
                    "503": _ok("The dependencies listed in `failed` did not.", "ReadinessOut"),
                },
                tag="operations",
            )
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "Prometheus exposition",
                {
                    "200": {
                        "description": "Prometheus text format 0.0.4.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                tag="operations",
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This document",
                {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                tag="operations",
            )
        },
        "/": {
            "get": _operation(
                "dashboard",
                "The shop dashboard (HTML; a client of this API)",
                {"200": {"description": "The page.", "content": {"text/html": {}}}},
                tag="dashboard",
            )
        },
        "/assets/{filename}": {
            "get": _operation(
                "dashboardAsset",
                "A static file of the dashboard (CSS, JavaScript module, SVG)",
                {
                    "200": {"description": "The file."},
                    **_problems("NotFound"),
                },
                tag="dashboard",
                parameters=[
                    {
                        "name": "filename",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
            )
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orderflow",
            "version": orderflow.__version__,
            "description": (
                "E-commerce order processing. Errors are application/problem+json "
                "naming the offending fields; money is a decimal string; statuses "
                "are lower case."
            ),
        },
        "paths": _paths(),
        "components": _components(),
    }
