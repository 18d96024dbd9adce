"""The Flask app factory. Nothing is created at import: the caller builds an
Orderflow (`orderflow.bootstrap(...)`) and hands it in, and the app keeps it
in `app.extensions["orderflow"]`. Closing it stays the caller's job.

Every request, POST /api/orders included, goes through Flask's whole request
cycle: a hook registered on the app runs for every route."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, request

from orderflow.bootstrap import Orderflow
from orderflow.entrypoints.http import dashboard, hosts, problems, rate_limits, routes, tracing
from orderflow.entrypoints.http.context import (
    EXTENSION,
    FastJSONProvider,
    TimedRequest,
    observe_request,
    request_started,
)

log = logging.getLogger(__name__)

DEFAULTS: Mapping[str, Any] = {
    "READINESS_TIMEOUT_S": 1.0,  # per dependency check in /ready
    "RETRY_AFTER_S": 5,  # Retry-After on 503s
}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# More callables than the app's views, hooks and error handlers together:
# the memo below never grows past it whatever is passed.
_SYNC_MEMO_SIZE = 1024


class OrderflowFlask(Flask):
    """Flask with `ensure_sync` (its documented override point) answered
    once per callable: Flask asks it for the view and every hook of every
    request, and each answer was an `inspect.iscoroutinefunction` walk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_callables: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            known = self.sync_callables.get(func)
        except TypeError:  # an unhashable callable: asked every time
            return super().ensure_sync(func)
        if known is None:
            known = super().ensure_sync(func)
            if len(self.sync_callables) < _SYNC_MEMO_SIZE:
                self.sync_callables[func] = known
        return known


def create_app(orderflow: Orderflow, *, config: Mapping[str, Any] | None = None) -> Flask:
    settings = orderflow.settings
    app = OrderflowFlask(__name__, static_folder=None)
    app.config.update(DEFAULTS)
    # A body declared longer is refused (413) before it is read.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # None trusts any Host; `orderflow serve` passes the loopback names.
    app.config["TRUSTED_HOST_NAMES"] = settings.trusted_host_names
    app.config.update(config or {})
    # No redirects: werkzeug's (for a missing or doubled slash) are absolute
    # URLs built from the Host header, and HTML. A near miss is a 404.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    app.json = FastJSONProvider(app)
    app.request_class = TimedRequest
    app.extensions[EXTENSION] = orderflow

    if orderflow.settings.tracing_kind == "on":
        tracing.install(app)
    problems.register(app)
    hosts.register(app, app.config["TRUSTED_HOST_NAMES"])
    rate_limits.register(app, orderflow.settings)
    routes.register(app)
    dashboard.register(app)

    @app.after_request
    def _observe_latency(response: Response) -> Response:
        # Route templates and a closed set of methods keep label cardinality
        # bounded whatever URLs and verbs clients make up.
        rule = request.url_rule
        method = request.method
        observe_request(
            orderflow.metrics,
            request_started(),
            route=rule.rule if rule is not None else "unmatched",
            method=method if method in _METHODS else "other",
            status=response.status_code,
        )
        return response

    return app
