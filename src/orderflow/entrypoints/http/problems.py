"""Every error leaves as application/problem+json (RFC 9457):

    {"type", "title", "status", "detail", "instance", "errors": [{"field", "message"}]}

`errors` names the offending fields (dotted paths with list indexes, as in
`items[0].quantity`; `body` for the body as a whole; a header by its name).
This module maps each error to its status: request-line problems (path,
query, headers, JSON syntax) are 400, well-formed bodies that break the
schema or a domain rule are 422. Nothing here ever answers with HTML, and
nothing a client sent comes back: not the path (`instance` is the route's
template), not a header, not an unknown key or value."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from orderflow.domain.errors import (
    ConcurrentUpdate,
    DomainError,
    IdempotencyConflict,
    InfrastructureError,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    NotPermitted,
    OrderNotFound,
    ProductNotFound,
    Unauthenticated,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:orderflow:problem:"
DEFAULT_RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ApiProblem(Exception):
    """Raised by views for a 4xx that is not a domain error (bad id, header...)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def bad_request(field: str, message: str, detail: str | None = None) -> ApiProblem:
    return ApiProblem(
        400,
        "bad-request",
        "Bad request",
        detail or f"{field}: {message}",
        [FieldError(field, message)],
    )


def unprocessable(errors: Sequence[FieldError], detail: str | None = None) -> ApiProblem:
    return ApiProblem(
        422,
        "validation-failed",
        "Validation failed",
        detail or "the request body is not valid; see errors",
        errors,
    )


def field_path(location: Iterable[int | str], prefix: str = "") -> str:
    """('items', 0, 'quantity') -> 'items[0].quantity'; () -> 'body'."""
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_errors(exc: ValidationError, root: str = "body") -> list[FieldError]:
    # The input itself is never echoed: it may be large, or someone's data.
    # An unknown key is the client's own text, so its parent is named instead.
    errors = []
    for error in exc.errors():
        location, message = error["loc"], error["msg"]
        if error["type"] == "extra_forbidden":
            location, message = location[:-1], "has a field that is not allowed"
        errors.append(FieldError(field_path(location) if location else root, message))
    return errors


def problem_document(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: Sequence[FieldError] = (),
) -> dict[str, Any]:
    return {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    # The route's template, never the path as sent: a path is client input.
    rule = request.url_rule
    body = problem_document(status, slug, title, detail, rule.rule if rule else "", errors)
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype=PROBLEM_JSON
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _retry_after() -> dict[str, str]:
    return {"Retry-After": str(current_app.config.get("RETRY_AFTER_S", DEFAULT_RETRY_AFTER_S))}


# --- handlers ----------------------------------------------------------------------


def _api_problem(exc: ApiProblem) -> Response:
    return problem(exc.status, exc.slug, exc.title, exc.detail, exc.errors, exc.headers)


def _validation(exc: ValidationError) -> Response:
    return problem(
        422,
        "validation-failed",
        "Validation failed",
        "the request is not valid; see errors",
        validation_errors(exc),
    )


def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers: dict[str, str] = {}
    if status == 405:
        # werkzeug knows the allowed methods; RFC 9110 wants them in Allow.
        headers.update((k, v) for k, v in exc.get_headers() if k.lower() == "allow")
    # The class's own text: an instance's description may quote the request.
    detail = type(exc).description or exc.name
    if isinstance(exc, RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"the request body exceeds {limit} bytes"
    slug = exc.name.lower().replace(" ", "-").replace("'", "")
    return problem(status, slug, exc.name, detail, headers=headers)


# What each domain error answers: status, slug, title and the field it names.
_DOMAIN_PROBLEMS: dict[type[DomainError], tuple[int, str, str, Callable[[Any], FieldError]]] = {
    OrderNotFound: (
        404,
        "order-not-found",
        "Order not found",
        lambda _: FieldError("id", "no such order"),
    ),
    ProductNotFound: (
        404,
        "product-not-found",
        "Product not found",
        lambda _: FieldError("id", "no such product"),
    ),
    InvalidTransition: (
        409,
        "invalid-transition",
        "Conflict with the order's status",
        lambda e: FieldError("status", f"is {e.current}; cannot become {e.target}"),
    ),
    IdempotencyConflict: (
        422,
        "idempotency-key-reused",
        "Idempotency-Key reused",
        lambda _: FieldError("Idempotency-Key", "was already used with a different request body"),
    ),
    InvalidInput: (
        422,
        "validation-failed",
        "Validation failed",
        lambda e: FieldError(e.field, e.message),
    ),
    InsufficientStock: (
        409,
        "insufficient-stock",
        "Insufficient stock",
        lambda e: FieldError("quantity", f"only {e.available} of {e.product_id} in stock"),
    ),
    NotPermitted: (
        403,
        "forbidden",
        "Forbidden",
        lambda _: FieldError("Authorization", "these credentials may not do this"),
    ),
}


def _domain(exc: DomainError) -> Response:
    for cls in type(exc).__mro__:
        if cls in _DOMAIN_PROBLEMS:
            status, slug, title, field = _DOMAIN_PROBLEMS[cls]
            error = field(exc)
            # Not str(exc): it may quote the request (a product id, a key).
            return problem(status, slug, title, f"{error.field}: {error.message}", [error])
    return problem(422, "domain-rule", "Request refused", str(exc))


def _concurrent_update(exc: ConcurrentUpdate) -> Response:
    return problem(
        409,
        "concurrent-update",
        "Concurrent update",
        "the order changed while this request ran; read it again and retry",
    )


def _unauthenticated(exc: Unauthenticated) -> Response:
    # The reason (unknown key, expired token...) goes to the log, not to the
    # client: it would tell a guesser how close it came.
    log.info("%s %s: 401: %s", request.method, request.path, exc.reason)
    challenge = 'Bearer realm="orderflow"'
    if request.headers.get("Authorization") is not None:
        challenge += ', error="invalid_token"'
    return problem(
        401,
        "unauthenticated",
        "Authentication required",
        "send valid credentials as Authorization: Bearer <token>",
        [FieldError("Authorization", "missing, malformed, unknown, revoked or expired")],
        headers={"WWW-Authenticate": challenge},
    )


def _unavailable(exc: InfrastructureError) -> Response:
    # The cause goes to the log only: driver messages can carry hosts and URLs.
    log.warning("%s %s: dependency unavailable: %r", request.method, request.path, exc)
    return problem(
        503,
        "service-unavailable",
        "Service unavailable",
        "a dependency is unavailable; retry later",
        headers=_retry_after(),
    )


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.path)
    return problem(500, "internal-error", "Internal server error", "an unexpected error occurred")


_HANDLERS: tuple[tuple[type[Exception], Any], ...] = (
    (ApiProblem, _api_problem),
    (ValidationError, _validation),
    (HTTPException, _http),
    (Unauthenticated, _unauthenticated),
    (DomainError, _domain),
    (ConcurrentUpdate, _concurrent_update),
    (InfrastructureError, _unavailable),
    (Exception, _unexpected),
)


def register(app: Flask) -> None:
    """Flask picks the handler of the nearest class in the error's MRO, so the
    catch-all Exception handler only sees what nothing else claims."""
    for exc_type, handler in _HANDLERS:
        app.register_error_handler(exc_type, handler)
