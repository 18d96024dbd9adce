"""Reading orders: cache-aside, the database being the source of truth.

`get` is the trusted read (the library's caller holds the database anyway);
`get_as` and `list_owned` are what a principal may see: someone else's
order is OrderNotFound, exactly as a missing one, so existence is not
revealed."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow.domain.errors import NotPermitted, OrderNotFound
from orderflow.domain.identity import Principal
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
        with self.uow_factory.reading() as uow:
            order = uow.orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        self.cache.put(order)
        return order

    def get_as(self, principal: Principal, order_id: str) -> Order:
        """The order if `principal` may read it; OrderNotFound otherwise."""
        order = self.get(order_id)
        if not principal.may_read(order):
            raise OrderNotFound(order_id)
        return order

    def list_owned(self, principal: Principal, *, limit: int, offset: int) -> list[Order]:
        """The principal's own orders, newest first (customers and shop keys;
        an ops key owns none, NotPermitted as for an order token)."""
        owner = principal.owner
        if owner is None or not principal.may_list:
            raise NotPermitted("listing orders needs a customer token or a shop key")
        with self.uow_factory.reading() as uow:
            return uow.orders.list_owned(owner=owner, limit=limit, offset=offset)
