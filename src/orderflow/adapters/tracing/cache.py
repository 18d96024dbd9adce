"""Spans around the worker's cache writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from opentelemetry import context, trace
from opentelemetry.context import Context

from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.tracing import ORDER_CONTEXTS

_tracer = trace.get_tracer("orderflow.cache")


class TracedOrderCache(OrderCache):
    """Writes of orders the current batch traces (ORDER_CONTEXTS) get one
    span per order, a child of that order's processing span; reads and
    untraced writes pass as they are."""

    def __init__(self, inner: OrderCache) -> None:
        self._inner = inner

    def get(self, order_id: str) -> Order | None:
        return self._inner.get(order_id)

    def put(self, order: Order) -> bool:
        written = False

        def write() -> None:
            nonlocal written
            written = self._inner.put(order)

        self._traced([order], write)
        return written

    def put_many(self, orders: Sequence[Order]) -> None:
        self._traced(orders, lambda: self._inner.put_many(orders))

    def delete(self, order_id: str) -> None:
        self._inner.delete(order_id)

    def ping(self) -> None:
        self._inner.ping()

    def _traced(self, orders: Sequence[Order], write: Callable[[], object]) -> None:
        contexts = order_contexts()
        spans = [
            _tracer.start_span(
                "order cache write",
                context=contexts[order.id],
                attributes={"orderflow.order_id": order.id, "orderflow.status": order.status.value},
            )
            for order in orders
            if order.id in contexts
        ]
        try:
            write()
        finally:
            for span in spans:
                span.end()


def order_contexts() -> Mapping[str, Context]:
    """The current batch's order id -> processing context (ORDER_CONTEXTS)."""
    value = context.get_value(ORDER_CONTEXTS)
    return value if isinstance(value, Mapping) else {}
