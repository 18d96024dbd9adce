"""The server span of each HTTP request, a child of the client's W3C
`traceparent` when it sends one. Installed by create_app only when tracing
is on: off, no hook runs and `trace_headers()` is one lookup."""

from __future__ import annotations

from flask import Flask, Response, g, request
from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind

_tracer = trace.get_tracer("orderflow.http")
_SPAN = "orderflow_trace_span"
_TOKEN = "orderflow_trace_token"


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_status)
    app.teardown_request(_end)


def trace_headers() -> dict[str, str]:
    """The propagation headers of the request's span, for what the request
    causes later (an order's outbox message); empty when it has none."""
    span = g.get(_SPAN)
    if span is None:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


def _start() -> None:
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"
    span = _tracer.start_span(
        f"{request.method} {route}",
        context=propagate.extract(request.headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "http.route": route},
    )
    setattr(g, _SPAN, span)
    setattr(g, _TOKEN, context.attach(trace.set_span_in_context(span)))


def _status(response: Response) -> Response:
    span = g.get(_SPAN)
    if span is not None:
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(trace.StatusCode.ERROR)
    return response


def _end(error: BaseException | None) -> None:
    span = g.pop(_SPAN, None)
    token = g.pop(_TOKEN, None)
    if token is not None:
        context.detach(token)
    if span is not None:
        if error is not None:
            span.record_exception(error)
        span.end()
