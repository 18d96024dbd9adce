"""Spans around publishing: the relay's hop of each traced message."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.outbox import OutboxMessage

_tracer = trace.get_tracer("orderflow.relay")


class TracedPublisher(MessagePublisher):
    """Each message that carries a trace context (an order placed in a
    traced request) is published under a span of its own, a child of that
    context, and goes out carrying the span's context instead, so the
    consumer's span is a child of this hop. Messages without a context pass
    as they are."""

    def __init__(self, inner: MessagePublisher) -> None:
        self._inner = inner

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        spans: list[trace.Span] = []
        outgoing: list[OutboxMessage] = []
        for message in messages:
            if not message.headers:
                outgoing.append(message)
                continue
            span = _tracer.start_span(
                f"{message.topic} publish",
                context=propagate.extract(message.headers),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.operation.type": "publish",
                    "messaging.destination.name": message.topic,
                    "messaging.message.id": message.message_id,
                    "orderflow.order_id": message.key,
                },
            )
            headers: dict[str, str] = {}
            propagate.inject(headers, context=trace.set_span_in_context(span))
            spans.append(span)
            outgoing.append(dataclasses.replace(message, headers=headers))
        try:
            self._inner.publish(outgoing)
        except Exception as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            for span in spans:
                span.end()

    def close(self) -> None:
        self._inner.close()

    def ping(self) -> None:
        self._inner.ping()
