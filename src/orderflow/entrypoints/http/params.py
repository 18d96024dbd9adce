"""Path parameters, query strings and headers: each bad value is a 400 naming it."""

from __future__ import annotations

import re
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from orderflow.entrypoints.http.body import looks_like_operator
from orderflow.entrypoints.http.problems import (
    ApiProblem,
    FieldError,
    bad_request,
    validation_errors,
)
from orderflow.entrypoints.http.schemas import (
    OrderListQuery,
    ProductQuery,
    canonical_order_id,
    is_product_id,
)

Query = TypeVar("Query", bound=BaseModel)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]+")  # printable ASCII


def order_id(raw: str) -> str:
    canonical = canonical_order_id(raw)
    if canonical is None:
        raise bad_request("id", "must be a UUID such as 0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69")
    return canonical


def product_id(raw: str) -> str:
    if not is_product_id(raw):
        raise bad_request("id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' or '-'")
    return raw


def idempotency_key() -> str | None:
    # WSGI folds repeated headers into one value, so a repeat cannot be told apart.
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise bad_request(
            IDEMPOTENCY_HEADER, f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
    return key


def _query(model: type[Query]) -> Query:
    args = request.args
    repeated = [name for name in args if len(args.getlist(name)) > 1]
    if repeated:
        # Named only if it is ours: any other name is the client's own text.
        named = repeated[0] if repeated[0] in model.model_fields else "query"
        raise bad_request(named, "must be given at most once")
    try:
        return model.model_validate(args.to_dict())
    except ValidationError as exc:
        raise ApiProblem(
            400,
            "bad-request",
            "Bad request",
            "the query string is not valid; see errors",
            validation_errors(exc, root="query"),
        ) from None


def order_list_query() -> OrderListQuery:
    return _query(OrderListQuery)


def product_query() -> ProductQuery:
    query = _query(ProductQuery)
    if looks_like_operator(query.search):
        raise ApiProblem(
            400,
            "bad-request",
            "Bad request",
            "the search text is an operator object",
            [FieldError("search", "must be plain text, not an object with '$' keys")],
        )
    return query
