"""Spans the drivers make (the worker's processing span per order), and the
trace id of a log line. OpenTelemetry's API only: the provider, if any, is
installed by the container (adapters/tracing/provider.py); without one every
call here is OpenTelemetry's no-op, and a delivery without headers costs
one test."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from orderflow.ports.messaging import Delivery
from orderflow.ports.tracing import ORDER_CONTEXTS

_tracer = trace.get_tracer("orderflow.worker")


@contextmanager
def processing_spans(deliveries: Sequence[Delivery]) -> Iterator[None]:
    """One span per traced delivery while its batch is processed, a child of
    the context its message carries (the relay's publish span). Batches stay
    batches: the spans run side by side, and ORDER_CONTEXTS tells the
    decorators below (the cache) which span each order's work belongs to."""
    traced = [d for d in deliveries if d.headers and d.key is not None]
    if not traced:
        yield
        return
    spans: dict[str, trace.Span] = {}
    for delivery in traced:
        assert delivery.key is not None
        spans[delivery.key] = _tracer.start_span(
            f"{delivery.topic} process",
            context=propagate.extract(delivery.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.operation.type": "process",
                "messaging.destination.name": delivery.topic,
                "messaging.destination.partition.id": str(delivery.partition),
                "messaging.kafka.offset": delivery.offset,
                "orderflow.order_id": delivery.key,
                "orderflow.batch_size": len(deliveries),
            },
        )
    contexts = {order_id: trace.set_span_in_context(span) for order_id, span in spans.items()}
    token = context.attach(context.set_value(ORDER_CONTEXTS, contexts))
    try:
        yield
    except BaseException as exc:
        for span in spans.values():
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        context.detach(token)
        for span in spans.values():
            span.end()


def trace_id_of(order_id: object = None) -> str | None:
    """The trace id (32 hex digits) a log line belongs to: that of the
    order's processing span when a batch traces the order, else that of the
    current span; None outside any trace."""
    span = trace.get_current_span()
    contexts = context.get_value(ORDER_CONTEXTS)
    if isinstance(contexts, Mapping) and isinstance(order_id, str) and order_id in contexts:
        found = contexts[order_id]
        if isinstance(found, Context):
            span = trace.get_current_span(found)
    span_context = span.get_span_context()
    return trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None
