"""Reading a JSON request body defensively, before any schema sees it.

The order of checks is the order of the answers: wrong Content-Type 415,
body over MAX_CONTENT_LENGTH 413 (werkzeug raises it while reading), bytes
that are not UTF-8 JSON 400, and then keys starting with `$` anywhere (the
MongoDB operator injection `{"$gt": ""}`) 422. No answer quotes the body."""

from __future__ import annotations

import json
from typing import IO, Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from orderflow.entrypoints.http.problems import (
    ApiProblem,
    FieldError,
    bad_request,
    unprocessable,
    validation_errors,
)

Model = TypeVar("Model", bound=BaseModel)

JSON_MIMETYPE = "application/json"
MAX_DEPTH = 32  # far deeper than any valid body; bounds every walk below


class _DuplicateKey(ValueError):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 8259 leaves duplicate names undefined; parsers disagree on which
    # wins, so a body relying on that is refused rather than guessed at.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey("has a duplicate key")  # not named: it is the client's text
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Bytes -> JSON value, or ApiProblem(400) naming `body`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("body", "is not valid UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_no_constant)
    except RecursionError:
        raise bad_request("body", "is nested too deeply") from None
    except _DuplicateKey as exc:
        raise bad_request("body", str(exc)) from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, over-long integers
        raise bad_request("body", f"is not valid JSON: {exc}") from None


def has_operator_keys(value: Any) -> bool:
    """Whether any object in `value` has a key starting with `$`. Iterative,
    so a deep body cannot exhaust the stack; depth beyond MAX_DEPTH raises."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request("body", f"is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            if any(key.startswith("$") for key in node):
                return True
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def reject_operators(value: Any) -> None:
    # Not where: a path would quote the client's own keys.
    if has_operator_keys(value):
        raise unprocessable(
            [FieldError("body", "holds a key starting with '$', which is not allowed")],
            "the body contains operator keys (starting with '$')",
        )


def may_hold_operators(raw: bytes) -> bool:
    """False when the walk above cannot find anything in the JSON `raw`
    decodes to: no `$` byte and no `\\u` escape (which could spell one), so
    no key starts with `$`; and fewer brackets than MAX_DEPTH, so nothing is
    nested that deep. Counting bytes is C; the walk is Python, per node."""
    return b"$" in raw or b"\\u" in raw or raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH


def looks_like_operator(text: str) -> bool:
    """True for a string that is itself a JSON object or list holding a `$` key,
    such as a search for '{"$gt": ""}': harmless to our stores, which treat
    text as a literal, but only ever sent as an injection probe."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        return has_operator_keys(json.loads(stripped))
    except (ValueError, RecursionError, ApiProblem):
        return False


def _read_body() -> bytes:
    # werkzeug's guarded stream raises 413 for a Content-Length over
    # MAX_CONTENT_LENGTH before anything is read.
    stream = request.stream
    length = request.content_length
    if length is not None:
        return _read_up_to(stream, length)
    # A chunked body has no length: werkzeug stops at the limit without
    # complaint, and only reading past it raises 413, so read one byte more.
    raw = stream.read()
    limit = request.max_content_length
    if limit is not None and len(raw) >= limit:
        stream.read(1)
    return raw


def _read_up_to(stream: IO[bytes], length: int) -> bytes:
    """The declared `length` in as few reads as the server allows (one, as a
    rule), rather than reading to the end in 64 KiB buffers; fewer bytes if
    the body ends early, which then fails as JSON."""
    first = stream.read(length)
    if len(first) == length or not first:
        return first
    chunks = [first]
    remaining = length - len(first)
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def json_body() -> Any:
    """The current request's body as JSON, after the checks above."""
    content_type = request.content_type
    if content_type != JSON_MIMETYPE:  # the exact usual value needs no parsing
        _check_content_type()
    return parse_body(_read_body())


def check_json_content_type() -> None:
    """415 unless the request says its body is UTF-8 application/json."""
    if request.content_type != JSON_MIMETYPE:
        _check_content_type()


def _check_content_type() -> None:
    if request.mimetype != JSON_MIMETYPE:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"the body must be {JSON_MIMETYPE}",
            [FieldError("Content-Type", f"must be {JSON_MIMETYPE}")],
        )
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "JSON bodies must be UTF-8",
            [FieldError("Content-Type", "charset must be utf-8")],
        )


def parse_body(raw: bytes) -> Any:
    """A body's bytes as JSON, refused (400/422) if they are not JSON or
    hold operator keys."""
    data = parse_json(raw)
    if may_hold_operators(raw):
        reject_operators(data)
    return data


def validated(model: type[Model], data: Any) -> Model:
    """`data` as `model`, or ApiProblem(422) naming every field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unprocessable(validation_errors(exc)) from None


def validated_body(model: type[Model]) -> Model:
    return validated(model, json_body())
