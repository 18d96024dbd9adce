"""Processing an order: pending -> processing -> completed | failed.

Idempotent by construction: stock is reserved only in the same transaction
that moves the order from processing to a terminal status, under a lock on
the order row. A redelivered or duplicated event finds the order terminal
and changes nothing.

The terminal status events (OrderCompleted, OrderFailed) do not go through
the outbox: the worker emits them on the events topic in one broker
transaction with the offsets it consumed, built by `status_event` from the
stored order, so the event a redelivery emits again is the same event (same
id, same content). OrderProcessingStarted and the customer notification stay
in the outbox."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from orderflow.domain.envelope import Topics, to_outbox
from orderflow.domain.errors import InsufficientStock, OrderNotFound, ProductNotFound
from orderflow.domain.events import Event, OrderCompleted, OrderFailed, OrderPlaced
from orderflow.domain.inventory import reserve
from orderflow.domain.model import Order, OrderStatus
from orderflow.domain.services.caching import BestEffortCache
from orderflow.domain.services.notifications import notification_for, to_outbox_message
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import Metrics
from orderflow.ports.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Status event ids are uuid5 names in this namespace (not the notifications'
# namespace: a status event and a notification are different messages).
STATUS_EVENTS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:orderflow:status-events")


def status_event(order: Order) -> OrderCompleted | OrderFailed | None:
    """The event announcing a finished order's terminal status, or None while
    it has none (or was cancelled). A pure function of the stored order: its
    id is uuid5 of the order id and the status, and its time is the time of
    the transition, so emitting it again yields an identical event."""
    event_id = str(uuid.uuid5(STATUS_EVENTS, f"{order.id}/{order.status.value}"))
    if order.status is OrderStatus.COMPLETED:
        return OrderCompleted(
            order_id=order.id,
            occurred_at=order.updated_at,
            event_id=event_id,
            total=str(order.total),
        )
    if order.status is OrderStatus.FAILED:
        return OrderFailed(
            order_id=order.id,
            occurred_at=order.updated_at,
            event_id=event_id,
            reason=order.failure_reason or "",
        )
    return None


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
        """Handle one event from the orders topic; returns the order as it is
        now (terminal unless cancelled), for the caller to emit its status
        event. Other event types are not this consumer's business: they are
        acknowledged untouched (None)."""
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
            # The status event is the worker's to emit (status_event), not the
            # outbox's; the notification stays in the outbox.
            order.events[:] = [
                e for e in order.events if not isinstance(e, OrderCompleted | OrderFailed)
            ]
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
