"""Reading orders: cache-aside, the database being the source of truth.

Orders in a terminal status (completed, failed, cancelled) never change
again, so each process also keeps the most recent of those it has read:
a status read of a finished order then needs neither Redis nor the database."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from orderflow.domain.errors import OrderNotFound
from orderflow.domain.model import Order
from orderflow.domain.services.caching import BestEffortCache
from orderflow.ports.unit_of_work import UnitOfWork


class TerminalOrders:
    """A bounded, thread-safe map of finished orders; the oldest entry goes
    first when it is full. Each read gets its own copy of the order."""

    # About 1.1 KB per order: 20,000 of them hold some 23 MB per process.
    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._orders: dict[str, Order] = {}
        self._lock = threading.Lock()

    def get(self, order_id: str) -> Order | None:
        with self._lock:
            order = self._orders.get(order_id)
        return None if order is None else dataclasses.replace(order, events=[])

    def remember(self, order: Order) -> None:
        if not order.status.is_terminal or self._capacity <= 0:
            return
        kept = dataclasses.replace(order, events=[])
        with self._lock:
            self._orders[order.id] = kept
            while len(self._orders) > self._capacity:
                del self._orders[next(iter(self._orders))]

    def __len__(self) -> int:
        return len(self._orders)


class OrderQueries:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        cache: BestEffortCache,
        terminal: TerminalOrders | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._terminal = terminal if terminal is not None else TerminalOrders()

    def get(self, order_id: str) -> Order:
        finished = self._terminal.get(order_id)
        if finished is not None:
            return finished
        cached = self._cache.get(order_id)
        if cached is not None:
            self._terminal.remember(cached)
            return cached
        with self._uow_factory() as uow:
            order = uow.orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        self._cache.put(order)
        self._terminal.remember(order)
        return order
