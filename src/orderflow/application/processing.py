"""Processing an order: pending -> processing -> completed | failed.

Idempotent by construction: stock is reserved only in the same transaction
that moves the order from processing to a terminal status, under a lock on
the order row. A redelivered or duplicated event finds the order terminal
and changes nothing.

The status events (OrderProcessingStarted, OrderCompleted, OrderFailed) do
not go through the outbox: the worker emits them on the events topic in one
broker transaction with the offsets it consumed, built by `status_events`
from the stored order, so the events a redelivery emits again are the same
events (same ids, same content). The customer notification is staged in
the same transaction as the status change (stage_notifications)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from orderflow.application.messages import Topics, to_outbox
from orderflow.application.notifications import notification_for, stage_notifications
from orderflow.domain.errors import InsufficientStock, ProductNotFound
from orderflow.domain.events import (
    Event,
    OrderCompleted,
    OrderFailed,
    OrderPlaced,
    OrderProcessingStarted,
)
from orderflow.domain.inventory import reserve
from orderflow.domain.model import Order, OrderStatus, Product
from orderflow.ports.cache import OrderCache
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import (
    ORDER_PROCESSING_SECONDS,
    ORDERS_COMPLETED,
    ORDERS_FAILED,
    Metrics,
)
from orderflow.ports.outbox import OutboxMessage
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

# Status event ids are uuid5 names in this namespace (not the notifications'
# namespace: a status event and a notification are different messages).
STATUS_EVENTS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:orderflow:status-events")
_UNFINISHED = (OrderStatus.PENDING, OrderStatus.PROCESSING)
# The steps of a timeline that have a status event of the worker's.
_EMITTED_STEPS = frozenset({OrderStatus.PROCESSING, OrderStatus.COMPLETED, OrderStatus.FAILED})


def status_events(order: Order) -> list[OrderProcessingStarted | OrderCompleted | OrderFailed]:
    """The status events of an order whose processing is over, oldest
    first, one per step of its timeline: OrderProcessingStarted if it got
    that far, then OrderCompleted or OrderFailed if it got there (a
    cancelled order keeps the ones it reached before the cancel, whose own
    event is the outbox's). Empty while it is unfinished. A pure function of
    the stored order: each id is uuid5 of the order id and the status, each
    time that of the transition, so emitting them again yields identical
    events."""
    if not order.status.is_terminal:
        return []
    found: list[OrderProcessingStarted | OrderCompleted | OrderFailed] = []
    for step in order.history:
        if step.status not in _EMITTED_STEPS:
            continue
        event_id = str(uuid.uuid5(STATUS_EVENTS, f"{order.id}/{step.status.value}"))
        if step.status is OrderStatus.PROCESSING:
            found.append(
                OrderProcessingStarted(order_id=order.id, occurred_at=step.at, event_id=event_id)
            )
        elif step.status is OrderStatus.COMPLETED:
            found.append(
                OrderCompleted(
                    order_id=order.id,
                    occurred_at=step.at,
                    event_id=event_id,
                    total=str(order.total),
                )
            )
        elif step.status is OrderStatus.FAILED:
            reason = step.reason or order.failure_reason or ""
            found.append(
                OrderFailed(
                    order_id=order.id, occurred_at=step.at, event_id=event_id, reason=reason
                )
            )
    return found


def status_event(order: Order) -> OrderCompleted | OrderFailed | None:
    """The event announcing a completed or failed order's status, or None
    for an order that is neither (status_events)."""
    if order.status not in (OrderStatus.COMPLETED, OrderStatus.FAILED):
        return None
    final = status_events(order)[-1]
    return final if isinstance(final, OrderCompleted | OrderFailed) else None


# The events the worker emits itself (status_events), not through the outbox.
_WORKER_EMITS = (OrderProcessingStarted, OrderCompleted, OrderFailed)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderProcessor:
    """Processes orders in batches: every order of a batch moves in one unit
    of work (up to the store's batch_limit; a single order is a batch of one)."""

    uow_factory: UnitOfWorkFactory
    clock: Clock
    cache: OrderCache
    metrics: Metrics
    topics: Topics
    processing_delay_s: float = 0.0

    @property
    def batch_limit(self) -> int:
        return self.uow_factory.batch_limit

    def handle_many(self, events: Sequence[Event]) -> list[Order | None]:
        """Handle events from the orders topic, in one unit of work, which
        commits all of them or none: for each, the order as it is now
        (terminal unless cancelled), for the caller to emit its status
        events. Other event types are not this consumer's business: they
        are acknowledged untouched (None). An error fails the whole batch
        and changes nothing; the caller then handles the events one by one
        to find the culprit."""
        if len(events) > self.batch_limit:
            raise ValueError(f"a batch holds at most {self.batch_limit} events")
        placed = {e.order_id: e for e in events if isinstance(e, OrderPlaced)}
        orders = self._process_batch(placed) if placed else {}
        return [orders[e.order_id] if isinstance(e, OrderPlaced) else None for e in events]

    def _process_batch(self, placed: dict[str, OrderPlaced]) -> dict[str, Order]:
        """Every order of `placed` from wherever it stands to a terminal
        status, in one unit of work. With a processing delay the batch is
        started (and committed, so status reads show `processing`) first."""
        if self.processing_delay_s:
            started = self._start_batch(placed)
            if started:
                time.sleep(self.processing_delay_s * started)  # each order's simulated work
        with self.uow_factory() as uow:
            orders = self._lock_orders(uow, placed)
            now = self.clock.now()
            moving = [o for o in orders.values() if o.status in _UNFINISHED]
            for order in moving:
                if order.status is OrderStatus.PENDING:
                    order.start_processing(now)
            wanted: dict[str, int] = {}
            for order in moving:
                for product_id, quantity in order.quantities().items():
                    wanted[product_id] = wanted.get(product_id, 0) + quantity
            products = self._lock_products(uow, wanted)
            changed: set[str] = set()
            for order in moving:
                changed |= self._settle(order, products, now)
            uow.products.save_many([products[product_id] for product_id in sorted(changed)])
            self._save_all(uow, moving, finished_at=now)
            uow.commit()
        for order in moving:
            self._finished(order)
        # All of them, the already finished too: a worker that finished one
        # may have died before its own cache write (versioned: no-op if fresh).
        self.cache.put_many(list(orders.values()))
        return orders

    def _start_batch(self, placed: dict[str, OrderPlaced]) -> int:
        with self.uow_factory() as uow:
            orders = self._lock_orders(uow, placed)
            now = self.clock.now()
            starting = [o for o in orders.values() if o.status is OrderStatus.PENDING]
            for order in starting:
                order.start_processing(now)
            self._save_all(uow, starting)
            uow.commit()
        self.cache.put_many(starting)
        return len(starting)

    def _lock_orders(self, uow: UnitOfWork, placed: dict[str, OrderPlaced]) -> dict[str, Order]:
        """The batch's order rows, locked in sorted id order; an order intake
        could only publish (database down) is stored from its event first."""
        orders = uow.orders.get_many_for_update(list(placed))
        for order_id in sorted(placed.keys() - orders.keys()):
            order = Order.from_dict(placed[order_id].order)
            uow.orders.add(order)  # a concurrent insert makes this DuplicateKey
            orders[order_id] = order
        return {order_id: orders[order_id] for order_id in placed}

    def _lock_products(self, uow: UnitOfWork, wanted: Mapping[str, int]) -> dict[str, Product]:
        # The order rows are locked first, then products in sorted id order:
        # every worker takes locks in the same order, so none deadlock.
        return uow.products.get_many_for_update(sorted(wanted))

    def _settle(self, order: Order, products: dict[str, Product], now: datetime) -> set[str]:
        """A processing order to completed (its stock taken from `products`)
        or failed (nothing taken); the ids of the products whose stock moved.
        The status events are the worker's to emit (status_events), not the
        outbox's; the customer notification is staged by _save_all."""
        wanted = order.quantities()
        try:
            reserve(products, wanted)
        except (InsufficientStock, ProductNotFound) as exc:
            order.fail(str(exc), now)
            taken: set[str] = set()
        else:
            order.complete(now)
            taken = set(wanted)
        return taken

    def _finished(self, order: Order) -> None:
        self.metrics.increment(
            ORDERS_COMPLETED if order.status is OrderStatus.COMPLETED else ORDERS_FAILED
        )
        self.metrics.observe(
            ORDER_PROCESSING_SECONDS, (order.updated_at - order.created_at).total_seconds()
        )
        log.debug("order %s %s", order.id, order.status.value, extra={"order_id": order.id})

    def _save_all(
        self, uow: UnitOfWork, orders: Sequence[Order], *, finished_at: datetime | None = None
    ) -> None:
        """Stage the orders with their events in the outbox (none of the
        status events: the worker emits those) and, for orders
        that just finished (`finished_at`), the customer notification
        (stage_notifications)."""
        if not orders:
            return
        uow.orders.save_many(orders)
        messages: list[OutboxMessage] = []
        for order in orders:
            # The status events are the worker's to emit (status_events).
            outgoing = [e for e in order.events if not isinstance(e, _WORKER_EMITS)]
            messages.extend(to_outbox(outgoing, topics=self.topics))
            order.events.clear()
        if messages:
            uow.outbox.add(messages)
        if finished_at is not None:
            stage_notifications(uow, [notification_for(order) for order in orders], now=finished_at)
