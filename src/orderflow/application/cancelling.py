"""Cancelling an order: pending, processing or completed -> cancelled.

A compensation: the units a completed order holds go back to stock in the
transaction that cancels it, under the order's row lock and then its
products' locks in sorted id order (as processing takes them; taken for
every cancel). Cancelled is final, so a second cancel is InvalidTransition
and gives back nothing, and a worker that locks the order afterwards finds
it cancelled and reserves nothing (processing.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from orderflow.application.messages import Topics, to_outbox
from orderflow.application.notifications import notification_for, stage_notifications
from orderflow.domain.errors import NotPermitted, OrderNotFound
from orderflow.domain.identity import Principal
from orderflow.domain.inventory import release
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import ORDERS_CANCELLED, Metrics
from orderflow.ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A cancelled order and the units it put back in stock, per product."""

    order: Order
    restocked: dict[str, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCancellation:
    uow_factory: UnitOfWorkFactory
    clock: Clock
    cache: OrderCache
    topics: Topics
    metrics: Metrics

    def cancel(self, order_id: str, *, principal: Principal | None = None) -> Cancelled:
        """pending, processing or completed -> cancelled, its reserved units
        back in stock; InvalidTransition from failed or cancelled.

        With a `principal` (every HTTP request), only an owner may cancel:
        an order the principal may not read is OrderNotFound (existence is
        not revealed), one it may read but not cancel (ops) NotPermitted.
        Without one, the caller is trusted (the library, an operator)."""
        with self.uow_factory() as uow:
            # The row lock orders this cancel and every worker's transaction
            # on the order: a cancel sees the stock the order holds, a
            # worker sees the cancel.
            order = uow.orders.get_for_update(order_id)
            if order is None:
                raise OrderNotFound(order_id)
            if principal is not None and not principal.may_cancel(order):
                if principal.may_read(order):
                    raise NotPermitted("this principal may read the order, not cancel it")
                raise OrderNotFound(order_id)
            now = self.clock.now()
            restocked = order.cancel(now)
            # Its products are locked whatever it holds, in sorted id order
            # as processing locks them: a store without multi-document
            # transactions settles there what an interrupted attempt to
            # process the order left (MongoDB's holds).
            products = uow.products.get_many_for_update(sorted(order.quantities()))
            release(products, restocked)
            uow.products.save_many([products[product_id] for product_id in sorted(restocked)])
            uow.orders.save(order)
            uow.outbox.add(to_outbox(order.events, topics=self.topics))
            order.events.clear()
            # Once per terminal status, cancelled included.
            stage_notifications(uow, [notification_for(order)], now=now)
            uow.commit()
        self.metrics.increment(ORDERS_CANCELLED)
        log.info("order %s cancelled", order.id, extra={"order_id": order.id})
        self.cache.put(order)
        return Cancelled(order, restocked)
