"""What operators and tools call: liveness, readiness, metrics, the API document.

/health and the plain /ready (status only, for load balancers) are open.
/metrics and /ready's details (each check, its timing and error) need an
ops API key: none is 401, any other principal 403 (docs/SECURITY.md)."""

from __future__ import annotations

from typing import cast

from flask import Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from orderflow.domain.errors import NotPermitted
from orderflow.domain.identity import Role
from orderflow.entrypoints.http import openapi
from orderflow.entrypoints.http.context import current_orderflow, json_response, orderflow_of
from orderflow.entrypoints.http.identity import current_principal, required_principal
from orderflow.entrypoints.http.problems import DEFAULT_RETRY_AFTER_S
from orderflow.entrypoints.http.readiness import ReadinessProbe

PROBE_EXTENSION = "orderflow.readiness"
OPENAPI_EXTENSION = "orderflow.openapi"


def health() -> Response:
    """Liveness: the process answers. Touches no dependency on purpose, so a
    database outage does not get every API process restarted."""
    return json_response({"status": "ok"})


def ready() -> Response:
    principal = current_principal()
    probe = cast(ReadinessProbe, current_app.extensions[PROBE_EXTENSION])
    results = probe.run()
    failed = [name for name, result in results.items() if not result.ok]
    body: dict[str, object] = {"status": "not ready" if failed else "ready"}
    if principal is not None and principal.role is Role.OPS:
        body["failed"] = failed
        body["checks"] = {name: result.to_dict() for name, result in results.items()}
    if failed:
        retry = str(current_app.config.get("RETRY_AFTER_S", DEFAULT_RETRY_AFTER_S))
        return json_response(body, 503, {"Retry-After": retry})
    return json_response(body)


def metrics() -> Response:
    if required_principal().role is not Role.OPS:
        raise NotPermitted("/metrics needs an ops API key")
    return Response(current_orderflow().metrics_exposition(), content_type=CONTENT_TYPE_LATEST)


def openapi_document() -> Response:
    document = current_app.extensions.get(OPENAPI_EXTENSION)
    if document is None:
        document = current_app.extensions[OPENAPI_EXTENSION] = openapi.document()
    return json_response(document)


def register(app: Flask) -> None:
    app.extensions[PROBE_EXTENSION] = ReadinessProbe(
        lambda: orderflow_of(app).readiness_checks(),
        timeout_s=lambda: float(app.config["READINESS_TIMEOUT_S"]),
    )
    app.add_url_rule("/health", "health", health, methods=["GET"])
    app.add_url_rule("/ready", "ready", ready, methods=["GET"])
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    app.add_url_rule("/openapi.json", "openapi", openapi_document, methods=["GET"])
