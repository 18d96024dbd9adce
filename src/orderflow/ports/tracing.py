"""What the tracing decorators and the drivers that make spans agree on.

Trace context travels as opaque string headers (W3C `traceparent`,
`tracestate`): on PlaceOrder, OutboxMessage and Delivery. Only entrypoints
and adapters know they are OpenTelemetry's."""

from __future__ import annotations

#: The name of the OpenTelemetry context value a worker sets while it
#: processes a batch: order id -> the context of that order's processing
#: span. A decorator working on many orders at once (the cache's put_many)
#: makes each order's span a child of that order's own context.
ORDER_CONTEXTS = "orderflow.order_contexts"
