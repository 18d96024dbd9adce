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
    s.CancelledOrderOut,
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
    "Forbidden": (
        "Known credentials that may not do this (an ops key placing, listing or"
        " cancelling; an order token listing)."
    ),
    "NotFound": "No such resource or route, or an order these credentials may not see.",
    "Conflict": "The order's status does not allow this (a failed or cancelled order).",
    "PayloadTooLarge": "The body exceeds the size limit.",
    "UnsupportedMediaType": "The body is not application/json (UTF-8).",
    "UnprocessableContent": (
        "Well-formed JSON that breaks the schema or a domain rule, or an "
        "Idempotency-Key reused with a different body."
    ),
    "TooManyRequests": (
        "This client's rate limit (per API key, customer or address; stricter for"
        " placing orders) is spent; retry after Retry-After seconds."
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
    "TooManyRequests": "429",
    "ServiceUnavailable": "503",
    "InternalError": "500",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema_name: str, media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": _ref("schemas", schema_name)}}


def _problems(*names: str) -> dict[str, Any]:
    """These problems, and the two any rate-limited route may answer."""
    every = (*names, "TooManyRequests", "InternalError")
    return {_STATUS[name]: _ref("responses", name) for name in every}


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


_VERSIONED_HEADERS = {
    "ETag": {
        "description": 'The order\'s version (`"v<version>"`), for If-None-Match.',
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`private, no-cache`: no shared cache keeps it; ask again each time.",
        "schema": {"type": "string"},
    },
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag this route returned: 304 while the order is still at that version.",
    "schema": {"type": "string", "maxLength": 256},
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
                if name in ("ServiceUnavailable", "TooManyRequests")
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


_ORDER_ID = [_ref("parameters", "OrderId")]
_PAGE = [_ref("parameters", "Limit"), _ref("parameters", "Offset")]
_KEYED = [_ref("parameters", "IdempotencyKey")]
_READ_PROBLEMS = ("BadRequest", "Unauthorized", "NotFound", "ServiceUnavailable")
_BODY_PROBLEMS = ("PayloadTooLarge", "UnsupportedMediaType", "UnprocessableContent")
_PLACE_PROBLEMS = (
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    *_BODY_PROBLEMS,
    "ServiceUnavailable",
)


def _text(description: str, media: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema} if schema else {}}}


# (path, method, operationId, summary, tag, responses, the rest of the operation)
_ROUTES: tuple[tuple[str, str, str, str, str, dict[str, Any], dict[str, Any]], ...] = (
    (
        "/api/orders",
        "post",
        "placeOrder",
        "Place an order (processed asynchronously; starts as pending)",
        "orders",
        {
            "201": _ok(
                "The order, durably stored, and its access token.",
                "PlacedOrderOut",
                _CREATED_HEADERS,
            ),
            **_problems(*_PLACE_PROBLEMS),
        },
        {"parameters": _KEYED, "body": "OrderRequest", "security": _BEARER_OR_NONE},
    ),
    (
        "/api/orders",
        "get",
        "listOrders",
        "The caller's own orders, newest first (customer token or shop key)",
        "orders",
        {
            "200": _ok("One page of the caller's orders.", "OrderPageOut"),
            **_problems("BadRequest", "Unauthorized", "Forbidden", "ServiceUnavailable"),
        },
        {"parameters": _PAGE, "security": _BEARER},
    ),
    (
        "/api/orders/{order_id}",
        "get",
        "getOrder",
        "Read an order",
        "orders",
        {
            "200": _ok("The order.", "OrderOut", _VERSIONED_HEADERS),
            "304": {
                "description": "Not modified: `If-None-Match` names the order's current version.",
                "headers": _VERSIONED_HEADERS,
            },
            **_problems(*_READ_PROBLEMS),
        },
        {"parameters": [*_ORDER_ID, _IF_NONE_MATCH], "security": _BEARER},
    ),
    (
        "/api/orders/{order_id}/events",
        "get",
        "getOrderEvents",
        "An order's status timeline, oldest first",
        "orders",
        {
            "200": _ok("Every status the order reached, with its time.", "OrderEventsOut"),
            **_problems(*_READ_PROBLEMS),
        },
        {"parameters": _ORDER_ID, "security": _BEARER},
    ),
    (
        "/api/orders/{order_id}/stream",
        "get",
        "streamOrder",
        "Follow an order's status live (Server-Sent Events)",
        "orders",
        {
            "200": _text(
                "A text/event-stream: a `status` event (data: the order as OrderOut, id: its"
                " version) now and at each change, ending once the status is neither pending"
                " nor processing, or after ORDERFLOW_STREAM_MAX_S (then open it again, after"
                " the `retry:` it sent).",
                "text/event-stream",
                {"type": "string"},
            ),
            **_problems(*_READ_PROBLEMS),
        },
        {"parameters": _ORDER_ID, "security": _BEARER},
    ),
    (
        "/api/orders/{order_id}/cancel",
        "post",
        "cancelOrder",
        "Cancel a pending, processing or completed order, its reserved stock returned"
        " (Content-Type: application/json; body empty or {})",
        "orders",
        {
            "200": _ok("The cancelled order and the units it put back.", "CancelledOrderOut"),
            **_problems(*_READ_PROBLEMS, "Forbidden", "Conflict", *_BODY_PROBLEMS),
        },
        {
            "parameters": _ORDER_ID,
            "body": "CancelRequest",
            "body_required": False,
            "security": _BEARER,
        },
    ),
    (
        "/api/products",
        "get",
        "searchProducts",
        "Search the catalog, ordered by name",
        "products",
        {
            "200": _ok("One page of matches.", "ProductPageOut"),
            **_problems("BadRequest", "ServiceUnavailable"),
        },
        {"parameters": [_ref("parameters", "Search"), *_PAGE]},
    ),
    (
        "/api/products/{product_id}",
        "get",
        "getProduct",
        "Read a product",
        "products",
        {
            "200": _ok("The product.", "ProductOut"),
            **_problems("BadRequest", "NotFound", "ServiceUnavailable"),
        },
        {"parameters": [_ref("parameters", "ProductId")]},
    ),
    (
        "/order",
        "post",
        "placeShortOrder",
        "Place a one-line order by product name or id (the seed's API)",
        "short form",
        {
            "201": _ok(
                "The order, short view, and its access token.", "ShortOrderOut", _CREATED_HEADERS
            ),
            **_problems(*_PLACE_PROBLEMS),
        },
        {"parameters": _KEYED, "body": "ShortOrderRequest", "security": _BEARER_OR_NONE},
    ),
    (
        "/order/{order_id}",
        "get",
        "getShortOrder",
        "An order's status by id, open to anyone (no customer data)",
        "short form",
        {
            "200": _ok("The order's id, product, quantity and status.", "ShortOrderStatusOut"),
            **_problems("BadRequest", "NotFound", "ServiceUnavailable"),
        },
        {"parameters": _ORDER_ID, "security": _OPEN},
    ),
    (
        "/health",
        "get",
        "health",
        "Liveness (touches no dependency)",
        "operations",
        {"200": _ok("The process is up.", "HealthOut")},
        {},
    ),
    (
        "/ready",
        "get",
        "ready",
        "Readiness: every dependency checked with a deadline (details: ops key)",
        "operations",
        {
            "200": _ok("Every dependency answered.", "ReadinessOut"),
            "503": _ok("Some did not (named in `failed`, for an ops key).", "ReadinessOut"),
            **_problems("Unauthorized"),
        },
        {"security": _BEARER_OR_NONE},
    ),
    (
        "/metrics",
        "get",
        "metrics",
        "Prometheus exposition (ops key)",
        "operations",
        {
            "200": _text("Prometheus text format 0.0.4.", "text/plain", {"type": "string"}),
            **_problems("Unauthorized", "Forbidden"),
        },
        {"security": _BEARER},
    ),
    (
        "/openapi.json",
        "get",
        "openapi",
        "This document",
        "operations",
        {"200": _text("OpenAPI 3.1.", "application/json", {"type": "object"}), **_problems()},
        {},
    ),
    (
        "/",
        "get",
        "dashboard",
        "The shop dashboard (HTML; a client of this API)",
        "dashboard",
        {"200": _text("The page.", "text/html"), **_problems()},
        {},
    ),
    (
        "/assets/{filename}",
        "get",
        "dashboardAsset",
        "A static file of the dashboard (CSS, JavaScript module, SVG)",
        "dashboard",
        {"200": {"description": "The file."}, **_problems("NotFound")},
        {
            "parameters": [
                {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        },
    ),
)


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, method, operation_id, summary, tag, responses, rest in _ROUTES:
        paths.setdefault(path, {})[method] = _operation(
            operation_id, summary, responses, tag=tag, **rest
        )
    return paths


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
