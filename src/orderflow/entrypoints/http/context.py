"""What every view needs: the app's Orderflow, and JSON responses with headers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import orjson
from flask import Flask, Request, Response, current_app, request
from flask.json.provider import DefaultJSONProvider

from orderflow.bootstrap import Orderflow
from orderflow.entrypoints.http.body import JSON_MIMETYPE
from orderflow.ports.metrics import HTTP_REQUEST_SECONDS, Metrics

log = logging.getLogger(__name__)

EXTENSION = "orderflow"

# Dates and dataclasses go to Flask's `default`, as with the standard library,
# instead of orjson's own rendering of them.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson encoding: the same values out (dates,
    Decimal, UUID and dataclasses still go through Flask's `default`), in
    insertion order, at a fraction of the CPU of `json.dumps`. What orjson
    refuses and `json.dumps` accepts (integers beyond 64 bits, lone
    surrogates) is encoded by `json.dumps`, so nothing that encoded before
    fails now. Responses are always compact, in debug mode too."""

    sort_keys = False  # keep the documented field order

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # a caller asking for json.dumps's own options gets them
            return super().dumps(obj, **kwargs)
        return self.encode(obj).decode()

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            return json.dumps(obj, default=self.default, separators=(",", ":")).encode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """As Flask's: one positional value, several (a list), or keywords (an object)."""
        if args and kwargs:
            raise TypeError("app.json.response() takes either args or kwargs, not both")
        obj = (args[0] if len(args) == 1 else list(args)) if args else (kwargs or None)
        return current_app.response_class(self.encode(obj) + b"\n", mimetype=self.mimetype)


class TimedRequest(Request):
    """Flask's request, stamped with the moment it was made (before URL
    matching and every hook) for the request latency metric."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = time.perf_counter()


def request_started() -> float:
    """When the current request was made (the app's request_class is TimedRequest)."""
    return cast(TimedRequest, request).started


def orderflow_of(app: Flask) -> Orderflow:
    return cast(Orderflow, app.extensions[EXTENSION])


def current_orderflow() -> Orderflow:
    return orderflow_of(current_app)


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """`body` as the app's JSON, built in one go with its status and headers."""
    app = current_app
    provider = app.json
    # The provider's bytes as they are: not decoded to text for werkzeug to
    # encode again.
    encoded = (
        provider.encode(body) + b"\n"
        if isinstance(provider, FastJSONProvider)
        else (provider.dumps(body) + "\n").encode()
    )
    return app.response_class(encoded, status, headers, mimetype=JSON_MIMETYPE)


def observe_request(
    metrics: Metrics, started: float, *, route: str, method: str, status: int
) -> None:
    try:
        metrics.observe(
            HTTP_REQUEST_SECONDS,
            time.perf_counter() - started,
            route=route,
            method=method,
            status=str(status),
        )
    except Exception:  # a metrics fault must not turn a good answer into an error
        log.exception("could not record request latency")
