"""One order's trace in process: the POST's span (child of the client's
`traceparent`), the relay's publish, the worker's processing, the cache
write and the notification's send share its trace id; logs carry it; with
tracing off nothing is traced and no headers travel."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import orderflow
from orderflow import Orderflow
from orderflow.domain.model import Product
from orderflow.entrypoints.http.app import create_app
from orderflow.entrypoints.logs import JsonFormatter, TraceIdFilter
from tests.unit.http.support import valid_order
from tests.unit.journey import drain

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _provider() -> None:
    # One global provider per process (OpenTelemetry's rule): this module's
    # in-memory one, set before any container would set its own.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def flow(exporter: str) -> Orderflow:
    instance = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", traces_exporter=exporter
    )
    instance.catalog.upsert_many(
        [
            Product("laptop-14", "Laptop", "laptop", Decimal("999.00"), 50),
            Product("mouse", "Mouse", "mouse", Decimal("19.90"), 100),
        ]
    )
    return instance


def place(app: Orderflow, headers: dict[str, str]) -> str:
    response = (
        create_app(app).test_client().post("/api/orders", json=valid_order(), headers=headers)
    )
    assert response.status_code == 201
    order_id = response.get_json()["id"]
    assert isinstance(order_id, str)
    return order_id


def of_trace(finished: tuple[ReadableSpan, ...], trace_id: str) -> dict[str, ReadableSpan]:
    return {
        span.name: span
        for span in finished
        if span.context is not None and trace.format_trace_id(span.context.trace_id) == trace_id
    }


def test_one_order_is_one_trace_from_the_post_to_the_cache_write(
    spans: InMemorySpanExporter,
) -> None:
    app = flow("console")
    try:
        order_id = place(app, {"traceparent": TRACEPARENT})
        drain(app)
        assert app.queries.get(order_id).status.value == "completed"
    finally:
        app.close()
    traced = of_trace(spans.get_finished_spans(), TRACE_ID)
    assert set(traced) == {
        "POST /api/orders",
        "orders publish",
        "orders process",
        "order cache write",
        "notification send",
    }
    api, publish, process, cache, send = (
        traced[name]
        for name in (
            "POST /api/orders",
            "orders publish",
            "orders process",
            "order cache write",
            "notification send",
        )
    )
    # Each hop is the child of the one before: the client's span, then ours.
    assert api.parent is not None and api.parent.span_id == 0x00F067AA0BA902B7
    assert publish.parent is not None and publish.parent.span_id == api.context.span_id
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert cache.parent is not None and cache.parent.span_id == process.context.span_id
    # Staged in the worker's transaction, sent later by the dispatcher.
    assert send.parent is not None and send.parent.span_id == process.context.span_id
    assert process.attributes is not None and process.attributes["orderflow.order_id"] == order_id


def test_each_order_of_a_batch_keeps_its_own_trace(spans: InMemorySpanExporter) -> None:
    app = flow("console")
    other = "0af7651916cd43dd8448eb211c80319c"
    try:
        first = place(app, {"traceparent": TRACEPARENT})
        second = place(app, {"traceparent": f"00-{other}-b7ad6b7169203331-01"})
        app.relay.drain_once()
        worker = app.new_worker(poll_timeout_s=0.01)
        try:
            assert worker.run_once() == 2  # both in one batch
        finally:
            worker.close()
    finally:
        app.close()
    finished = spans.get_finished_spans()
    for trace_id, order_id in ((TRACE_ID, first), (other, second)):
        traced = of_trace(finished, trace_id)
        process = traced["orders process"]
        assert (
            process.attributes is not None and process.attributes["orderflow.order_id"] == order_id
        )
        assert process.attributes["orderflow.batch_size"] == 2
        assert traced["order cache write"].attributes == {
            "orderflow.order_id": order_id,
            "orderflow.status": "completed",
        }


def test_a_log_line_written_while_an_order_is_processed_carries_its_trace_id(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    app = flow("console")
    try:
        order_id = place(app, {"traceparent": TRACEPARENT})
        caplog.handler.addFilter(TraceIdFilter())
        with caplog.at_level(logging.DEBUG, logger="orderflow.application.processing"):
            drain(app)
    finally:
        caplog.handler.filters.clear()
        app.close()
    lines = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if record.name == "orderflow.application.processing"
        and getattr(record, "order_id", None) == order_id
    ]
    assert lines and all(line["trace_id"] == TRACE_ID for line in lines)


def test_with_tracing_off_nothing_is_traced_and_no_headers_travel(
    spans: InMemorySpanExporter,
) -> None:
    app = flow("none")
    try:
        place(app, {"traceparent": TRACEPARENT})
        app.relay.drain_once()
        deliveries = app.container.consumer().poll(max_messages=10, timeout_s=0.1)
    finally:
        app.close()
    assert [d.headers for d in deliveries] == [{}]
    assert spans.get_finished_spans() == ()
