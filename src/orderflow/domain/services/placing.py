"""Placing an order: price it from the catalog, store it with its OrderPlaced
event in one transaction (the outbox), honouring Idempotency-Key.

When the database is unreachable, intake stays available (SPEC: the seed's
broker fallback): the order is priced from the prices this process last read
from the catalog and its OrderPlaced event is published straight to the
broker; the worker persists it (upsert by id) once the database is back. If
the broker is down too, or a price was never seen, the caller gets the
StorageUnavailable/BrokerUnavailable (503)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from orderflow.domain.commands import PlaceOrder
from orderflow.domain.envelope import Topics, to_outbox
from orderflow.domain.errors import (
    DuplicateKey,
    IdempotencyConflict,
    InvalidInput,
    StorageUnavailable,
)
from orderflow.domain.model import Order, OrderLine
from orderflow.ports.clock import Clock
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.metrics import Metrics
from orderflow.ports.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class PlacementResult:
    order: dict[str, object]  # the response body: the order as first stored
    created: bool  # False when an Idempotency-Key replayed an earlier response


def order_id_for(idempotency_key: str | None) -> str:
    """A fresh UUID4, or, for a keyed request, a UUID4-shaped id derived from
    the key: a retry during a database outage then reuses the same id, and the
    worker's upsert by id collapses the duplicates."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    digest = hashlib.sha256(b"orderflow-idempotency:" + idempotency_key.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class OrderPlacement:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        metrics: Metrics,
        topics: Topics,
        fallback_publisher: MessagePublisher | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._metrics = metrics
        self._topics = topics
        self._fallback = fallback_publisher
        self._prices_lock = threading.Lock()
        self._last_prices: dict[str, Decimal] = {}

    def place(self, command: PlaceOrder) -> PlacementResult:
        try:
            try:
                return self._place_once(command)
            except DuplicateKey:
                # A concurrent request with the same Idempotency-Key committed
                # first; the second attempt finds its record and replays it.
                if command.idempotency_key is None:
                    raise
                return self._place_once(command)
        except StorageUnavailable:
            if self._fallback is None:
                raise
            return self._place_through_broker(command)

    def _place_once(self, command: PlaceOrder) -> PlacementResult:
        fingerprint = command.fingerprint()
        with self._uow_factory() as uow:
            key = command.idempotency_key
            if key is not None:
                record = uow.idempotency.get(key)
                if record is not None:
                    if record.fingerprint != fingerprint:
                        raise IdempotencyConflict(key)
                    return PlacementResult(order=record.response, created=False)
                # Placed through the broker during an outage, then persisted by
                # the worker: same key, same id, so this is a replay too.
                stored = uow.orders.get(order_id_for(key))
                if stored is not None:
                    return PlacementResult(order=stored.to_dict(), created=False)

            prices: dict[str, Decimal] = {}
            for index, line in enumerate(command.items):
                product = uow.products.get(line.product_id)
                if product is None:
                    raise InvalidInput(
                        f"items[{index}].product_id", f"unknown product {line.product_id!r}"
                    )
                prices[product.id] = product.price
            self._remember(prices)

            order = self._new_order(command, prices)
            uow.orders.add(order)
            uow.outbox.add(to_outbox(order.events, topics=self._topics))
            order.events.clear()
            response = order.to_dict()
            if key is not None:
                uow.idempotency.add(
                    IdempotencyRecord(
                        key=key,
                        fingerprint=fingerprint,
                        order_id=order.id,
                        response=response,
                        created_at=order.created_at,
                    )
                )
            uow.commit()
        self._metrics.increment("orders_placed_total", path="outbox")
        return PlacementResult(order=response, created=True)

    def _place_through_broker(self, command: PlaceOrder) -> PlacementResult:
        with self._prices_lock:
            prices = {
                line.product_id: self._last_prices[line.product_id]
                for line in command.items
                if line.product_id in self._last_prices
            }
        if len(prices) < len({line.product_id for line in command.items}):
            raise StorageUnavailable("database unavailable and a price is not known")
        order = self._new_order(command, prices)
        assert self._fallback is not None
        self._fallback.publish(to_outbox(order.events, topics=self._topics))
        order.events.clear()
        self._metrics.increment("orders_placed_total", path="broker_fallback")
        return PlacementResult(order=order.to_dict(), created=True)

    def _new_order(self, command: PlaceOrder, prices: dict[str, Decimal]) -> Order:
        return Order.place(
            order_id=order_id_for(command.idempotency_key),
            customer=command.customer,
            items=tuple(
                OrderLine(line.product_id, line.quantity, prices[line.product_id])
                for line in command.items
            ),
            payment_method=command.payment_method,
            now=self._clock.now(),
        )

    def _remember(self, prices: dict[str, Decimal]) -> None:
        with self._prices_lock:
            self._last_prices.update(prices)
