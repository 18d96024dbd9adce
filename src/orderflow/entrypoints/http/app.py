"""The Flask app factory. Nothing is created at import: the caller builds an
Orderflow (`orderflow.bootstrap(...)`) and hands it in, and the app keeps it
in `app.extensions["orderflow"]`. Closing it stays the caller's job."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from orderflow.bootstrap import Orderflow
from orderflow.entrypoints.http import dashboard, problems, routes
from orderflow.entrypoints.http.context import (
    EXTENSION,
    FastJSONProvider,
    current_orderflow,
    observe_request,
)

log = logging.getLogger(__name__)

DEFAULTS: Mapping[str, Any] = {
    "MAX_CONTENT_LENGTH": 64 * 1024,  # bodies past this get a 413 before being read
    "READINESS_TIMEOUT_S": 1.0,  # per dependency check in /ready
    "RETRY_AFTER_S": 5,  # Retry-After on 503s
}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def create_app(orderflow: Orderflow, *, config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    app.json = FastJSONProvider(app)
    app.extensions[EXTENSION] = orderflow

    problems.register(app)
    routes.register(app)
    dashboard.register(app)
    app.before_request(_start_timer)
    app.after_request(_observe_latency)
    return app


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _observe_latency(response: Response) -> Response:
    started = g.get("request_started")
    if started is None:
        return response
    # Route templates and a closed set of methods keep label cardinality bounded
    # whatever URLs and verbs clients make up.
    rule = request.url_rule
    observe_request(
        current_orderflow().metrics,
        started,
        route=rule.rule if rule is not None else "unmatched",
        method=request.method if request.method in _METHODS else "other",
        status=response.status_code,
    )
    return response
