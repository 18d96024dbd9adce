"""Reading orders: cache-aside, the database being the source of truth."""

from __future__ import annotations

from collections.abc import Callable

from orderflow.domain.errors import OrderNotFound
from orderflow.domain.model import Order
from orderflow.domain.services.caching import BestEffortCache
from orderflow.ports.unit_of_work import UnitOfWork


class OrderQueries:
    def __init__(self, *, uow_factory: Callable[[], UnitOfWork], cache: BestEffortCache) -> None:
        self._uow_factory = uow_factory
        self._cache = cache

    def get(self, order_id: str) -> Order:
        cached = self._cache.get(order_id)
        if cached is not None:
            return cached
        with self._uow_factory() as uow:
            order = uow.orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        self._cache.put(order)
        return order
