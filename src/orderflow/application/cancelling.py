from __future__ import annotations

import logging
from dataclasses import dataclass

from orderflow.application.messages import Topics, to_outbox
from orderflow.application.notifications import notification_for, stage_notifications
from orderflow.domain.errors import NotPermitted, OrderNotFound
from orderflow.domain.identity import Principal
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import ORDERS_CANCELLED, Metrics
from orderflow.ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCancellation:
    uow_factory: UnitOfWorkFactory
    clock: Clock
    cache: OrderCache
    topics: Topics
    metrics: Metrics

    def cancel(self, order_id: str, *, principal: Principal | None = None) -> Order:
        """pending -> cancelled; InvalidTransition from any other status.

        With a `principal` (every HTTP request), only an owner may cancel:
        an order the principal may not read is OrderNotFound (existence is
        not revealed), one it may read but not cancel (ops) NotPermitted.
        Without one, the caller is trusted (the library, an operator)."""
        with self.uow_factory() as uow:
            # The row lock makes cancel and a worker's pending -> processing
            # exclusive: exactly one of them wins.
            order = uow.orders.get_for_update(order_id)
            if order is None:
                raise OrderNotFound(order_id)
            if principal is not None and not principal.may_cancel(order):
                if principal.may_read(order):
                    raise NotPermitted("this principal may read the order, not cancel it")
                raise OrderNotFound(order_id)
            order.cancel(self.clock.now())
            uow.orders.save(order)
            now = self.clock.now()
            uow.outbox.add(to_outbox(order.events, topics=self.topics))
            order.events.clear()
            # Once per terminal status, cancelled included.
            stage_notifications(uow, [notification_for(order)], now=now)
            uow.commit()
        self.metrics.increment(ORDERS_CANCELLED)
        log.info("order %s cancelled", order.id, extra={"order_id": order.id})
        self.cache.put(order)
        return order
