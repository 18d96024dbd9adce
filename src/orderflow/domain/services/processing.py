"""Processing an order: pending -> processing -> completed | failed.

Idempotent by construction: stock is reserved only in the same transaction
that moves the order from processing to a terminal status, under a lock on
the order row. A redelivered or duplicated event finds the order terminal
and changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from orderflow.domain.envelope import Topics, to_outbox
from orderflow.domain.errors import InsufficientStock, OrderNotFound, ProductNotFound
from orderflow.domain.events import Event, OrderPlaced
from orderflow.domain.inventory import reserve
from orderflow.domain.model import Order, OrderStatus
from orderflow.domain.services.caching import BestEffortCache
from orderflow.domain.services.notifications import notification_for, to_outbox_message
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import Metrics
from orderflow.ports.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class OrderProcessor:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        cache: BestEffortCache,
        metrics: Metrics,
        topics: Topics,
        processing_delay_s: float = 0.0,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._cache = cache
        self._metrics = metrics
        self._topics = topics
        self._delay_s = processing_delay_s

    def handle(self, event: Event) -> Order | None:
        """Handle one event from the orders topic. Other event types are not
        this consumer's business and are acknowledged untouched."""
        if not isinstance(event, OrderPlaced):
            return None
        self._ensure_stored(event)
        return self.process(event.order_id)

    def process(self, order_id: str) -> Order:
        order = self._start(order_id)
        if order.status is not OrderStatus.PROCESSING:
            return order  # already finished (or cancelled): a duplicate delivery
        if self._delay_s:
            time.sleep(self._delay_s)  # SPEC: ORDERFLOW_PROCESSING_DELAY_MS simulates work
        return self._finish(order_id)

    def _ensure_stored(self, event: OrderPlaced) -> None:
        """Persist an order that intake could only publish (database down at
        intake). An upsert by id: a stored order is left exactly as it is."""
        with self._uow_factory() as uow:
            if uow.orders.get(event.order_id) is not None:
                return
            uow.orders.add(Order.from_dict(event.order))
            uow.commit()

    def _start(self, order_id: str) -> Order:
        with self._uow_factory() as uow:
            order = uow.orders.get_for_update(order_id)
            if order is None:
                raise OrderNotFound(order_id)
            if order.status is not OrderStatus.PENDING:
                return order
            order.start_processing(self._clock.now())
            self._save(uow, order)
            uow.commit()
        self._cache.put(order)
        return order

    def _finish(self, order_id: str) -> Order:
        with self._uow_factory() as uow:
            order = uow.orders.get_for_update(order_id)
            if order is None:
                raise OrderNotFound(order_id)
            if order.status is not OrderStatus.PROCESSING:
                return order
            wanted = order.quantities()
            # The order row is locked first, then products in sorted id order:
            # every worker takes locks in the same order, so none deadlock.
            products = uow.products.get_many_for_update(sorted(wanted))
            now = self._clock.now()
            try:
                reserve(products, wanted)
            except (InsufficientStock, ProductNotFound) as exc:
                order.fail(str(exc), now)
            else:
                for product_id in sorted(wanted):
                    uow.products.save(products[product_id])
                order.complete(now)
            self._save(uow, order)
            uow.outbox.add(
                [to_outbox_message(notification_for(order), topics=self._topics, now=now)]
            )
            uow.commit()
        self._metrics.increment(f"orders_{order.status.value}_total")
        self._metrics.observe(
            "order_processing_seconds", (order.updated_at - order.created_at).total_seconds()
        )
        log.info("order %s %s", order.id, order.status.value, extra={"order_id": order.id})
        self._cache.put(order)
        return order

    def _save(self, uow: UnitOfWork, order: Order) -> None:
        uow.orders.save(order)
        uow.outbox.add(to_outbox(order.events, topics=self._topics))
        order.events.clear()
