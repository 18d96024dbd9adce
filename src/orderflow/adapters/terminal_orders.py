"""Final orders answered from this process's memory.

Orders in a final status (failed, cancelled) never change again, so a
status read of one needs neither Redis nor the database once this process
has seen it. A completed order is not final (it can still be cancelled,
possibly through another process): it is not kept. A decorator of the OrderCache port, composed in
the container in front of the status reads' cache."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache


class TerminalOrderMemo(OrderCache):
    """A bounded, thread-safe map of final orders in front of `inner`; the
    oldest entry goes first when it is full. Each read gets its own copy."""

    def __init__(self, inner: OrderCache, *, capacity: int = 20_000) -> None:
        self._inner = inner
        self._capacity = capacity
        self._orders: dict[str, Order] = {}
        self._lock = threading.Lock()

    def get(self, order_id: str) -> Order | None:
        with self._lock:
            finished = self._orders.get(order_id)
        if finished is not None:
            return dataclasses.replace(finished, events=[])
        order = self._inner.get(order_id)
        if order is not None:
            self._remember(order)
        return order

    def put(self, order: Order) -> bool:
        written = self._inner.put(order)
        self._remember(order)
        return written

    def put_many(self, orders: Sequence[Order]) -> None:
        self._inner.put_many(orders)
        for order in orders:
            self._remember(order)

    def delete(self, order_id: str) -> None:
        with self._lock:
            self._orders.pop(order_id, None)
        self._inner.delete(order_id)

    def ping(self) -> None:
        self._inner.ping()

    def __len__(self) -> int:
        return len(self._orders)

    def _remember(self, order: Order) -> None:
        if not order.status.is_final or self._capacity <= 0:
            return
        kept = dataclasses.replace(order, events=[])
        with self._lock:
            self._orders[order.id] = kept
            while len(self._orders) > self._capacity:
                del self._orders[next(iter(self._orders))]
