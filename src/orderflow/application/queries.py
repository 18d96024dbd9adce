"""Reading orders: cache-aside, the database being the source of truth."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow.domain.errors import OrderNotFound
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderQueries:
    uow_factory: UnitOfWorkFactory
    cache: OrderCache

    def get(self, order_id: str) -> Order:
        cached = self.cache.get(order_id)
        if cached is not None:
            return cached
        with self.uow_factory() as uow:
            order = uow.orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        self.cache.put(order)
        return order
