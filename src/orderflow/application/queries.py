"""Reading orders: cache-aside, the database being the source of truth."""

from __future__ import annotations

from orderflow.domain.errors import OrderNotFound
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.unit_of_work import UnitOfWorkFactory


class OrderQueries:
    def __init__(self, *, uow_factory: UnitOfWorkFactory, cache: OrderCache) -> None:
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
