"""GET /api/orders/<id>/stream: the order's status as Server-Sent Events,
one `status` event (the order, as GET /api/orders/<id> shows it) now and at
each change, until processing is over.

The stream reads the order through the same query as GET (cache-aside, so
a worker's write-through reaches it) every ORDERFLOW_STREAM_INTERVAL_MS.
It ends at the first status that is neither pending nor processing: what
can change after that (a cancel) is a request of the customer's own, whose
answer carries the new status. Each open stream holds a server thread, so a
stream lasts at most ORDERFLOW_STREAM_MAX_S (then ends with a `retry:`
hint; the client opens it again) and a process serves at most
ORDERFLOW_STREAM_MAX_CONCURRENT at once (503 beyond, with Retry-After)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app

from orderflow.domain.errors import InfrastructureError
from orderflow.domain.model import OrderStatus
from orderflow.entrypoints.http import params
from orderflow.entrypoints.http.context import EXTENSION, current_orderflow
from orderflow.entrypoints.http.identity import required_principal
from orderflow.entrypoints.http.problems import problem
from orderflow.entrypoints.http.routes.orders import order_view

_IN_PROCESSING = (OrderStatus.PENDING, OrderStatus.PROCESSING)
_SLOTS = "orderflow.stream_slots"
# A comment line now and then keeps idle proxies from closing the stream.
_KEEPALIVE_S = 15.0


def stream_order(order_id: str) -> Response:
    principal = required_principal()
    orderflow = current_orderflow()
    order_id = params.order_id(order_id)
    order = orderflow.queries.get_as(principal, order_id)  # 401 / 404 before any stream
    slots: threading.BoundedSemaphore = current_app.extensions[_SLOTS]
    if not slots.acquire(blocking=False):
        return problem(
            503,
            "too-many-streams",
            "Too many streams",
            "this server follows as many orders as it may; poll GET /api/orders/<id> "
            "or retry later",
            headers={"Retry-After": "5"},
        )
    settings = orderflow.settings

    def events() -> Iterator[str]:
        yield f"retry: {settings.stream_interval_ms * 4}\n\n"
        current = order
        sent = None
        deadline = time.monotonic() + settings.stream_max_s
        quiet_since = time.monotonic()
        while True:
            if (current.status, current.version) != sent:
                sent = (current.status, current.version)
                quiet_since = time.monotonic()
                body = json.dumps(order_view(current.to_dict()), separators=(",", ":"))
                yield f"id: {current.version}\nevent: status\ndata: {body}\n\n"
            if current.status not in _IN_PROCESSING or time.monotonic() >= deadline:
                return
            if time.monotonic() - quiet_since >= _KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(settings.stream_interval_ms / 1000)
            try:
                current = orderflow.queries.get(order_id)
            except InfrastructureError:
                return  # the client opens the stream again, or polls

    response = Response(
        events(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    # On close, not in the generator: a stream closed before its first
    # chunk never runs the generator's cleanup.
    response.call_on_close(slots.release)
    return response


def register(app: Flask) -> None:
    limit = app.extensions[EXTENSION].settings.stream_max_concurrent
    app.extensions[_SLOTS] = threading.BoundedSemaphore(limit)
    app.add_url_rule("/api/orders/<order_id>/stream", "stream_order", stream_order, methods=["GET"])
