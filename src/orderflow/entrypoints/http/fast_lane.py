"""POST /api/orders, intake's hot path, answered without Flask's machinery
around a view (request and application contexts, URL matching, hooks, a
Response object), which was about a seventh of an order's CPU in the API.

Only the plain case takes the lane: exactly `Content-Type: application/json`,
a Content-Length within MAX_CONTENT_LENGTH, no Idempotency-Key. It runs the
view's own functions (routes/orders.py `place`, body.py `parse_body`) on the
same bytes and answers what the view would: 201, the order, `Location`.
Every other request goes to Flask untouched. Every error raised on the lane
is answered by Flask as well, inside a request context built from the same
request: the app's error handlers and after-request hooks make the answer,
exactly as if the view had raised it."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from flask import Flask, g

from orderflow.entrypoints.http.body import JSON_MIMETYPE, parse_body
from orderflow.entrypoints.http.context import FastJSONProvider, observe_request, orderflow_of
from orderflow.entrypoints.http.params import IDEMPOTENCY_HEADER
from orderflow.entrypoints.http.routes.orders import REPLAYED_HEADER, location_of, place

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PATH = "/api/orders"
_KEY_VARIABLE = "HTTP_" + IDEMPOTENCY_HEADER.upper().replace("-", "_")


class PlaceOrderLane:
    """A WSGI application in front of the Flask app's own (`app.wsgi_app`)."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._flask: WSGIApplication = app.wsgi_app
        self._orderflow = orderflow_of(app)
        self._json = app.json if isinstance(app.json, FastJSONProvider) else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = self._plain_length(environ)
        if length is None:
            return self._flask(environ, start_response)
        started = time.perf_counter()
        raw = _read(environ["wsgi.input"], length)
        # From here Flask, if it answers, reads the body from these bytes.
        environ["wsgi.input"] = io.BytesIO(raw)
        if len(raw) < length:  # the client went away mid-body: werkzeug's 400
            return self._flask(environ, start_response)
        try:
            result = place(self._orderflow, parse_body(raw), None)
        except Exception as error:
            return self._answer_error(environ, start_response, error, started)
        assert self._json is not None
        body = self._json.encode(result.order) + b"\n"
        headers = [
            ("Content-Type", JSON_MIMETYPE),
            ("Content-Length", str(len(body))),
            ("Location", location_of(result)),
        ]
        if not result.created:
            headers.append((REPLAYED_HEADER, "true"))
        observe_request(self._orderflow.metrics, started, route=PATH, method="POST", status=201)
        start_response("201 CREATED", headers)
        return [body]

    def _plain_length(self, environ: WSGIEnvironment) -> int | None:
        """The body's length if the lane may answer this request, else None."""
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("CONTENT_TYPE") != JSON_MIMETYPE
            or _KEY_VARIABLE in environ
            or "HTTP_TRANSFER_ENCODING" in environ
            or self._json is None
        ):
            return None
        text = environ.get("CONTENT_LENGTH") or ""
        if not (text.isascii() and text.isdigit()):
            return None
        length = int(text)
        limit = self._app.config.get("MAX_CONTENT_LENGTH")
        return None if limit is not None and length > limit else length

    def _answer_error(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        error: Exception,
        started: float,
    ) -> Iterable[bytes]:
        """What Flask answers when the view raises `error` (Flask.wsgi_app and
        full_dispatch_request, from the point where the view returns)."""
        app = self._app
        with app.request_context(environ):
            g.request_started = started  # for the latency hook, as _start_timer does
            try:
                response = app.finalize_request(app.handle_user_exception(error))
            except Exception as unhandled:
                response = app.handle_exception(unhandled)
            return response(environ, start_response)


def _read(stream: IO[bytes] | Any, length: int) -> bytes:
    """Up to `length` bytes: fewer if the body ends early or reading fails
    (the client went away), which Flask then answers as werkzeug does."""
    chunks = []
    remaining = length
    while remaining > 0:
        try:
            chunk = stream.read(remaining)
        except Exception:
            break
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
