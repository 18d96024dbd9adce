"""Placing an order: price it from the catalog, store it with its OrderPlaced
event in one transaction (the outbox), honouring Idempotency-Key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from orderflow.domain.commands import PlaceOrder
from orderflow.domain.envelope import Topics, to_outbox
from orderflow.domain.errors import DuplicateKey, IdempotencyConflict, InvalidInput
from orderflow.domain.model import Order, OrderLine
from orderflow.ports.clock import Clock
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.metrics import Metrics
from orderflow.ports.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class PlacementResult:
    order: dict[str, object]  # the response body: the order as first stored
    created: bool  # False when an Idempotency-Key replayed an earlier response


class OrderPlacement:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        metrics: Metrics,
        topics: Topics,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._metrics = metrics
        self._topics = topics

    def place(self, command: PlaceOrder) -> PlacementResult:
        try:
            return self._place_once(command)
        except DuplicateKey:
            # A concurrent request with the same Idempotency-Key committed
            # first; the second attempt finds its record and replays it.
            if command.idempotency_key is None:
                raise
            return self._place_once(command)

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

            lines = []
            for index, line in enumerate(command.items):
                product = uow.products.get(line.product_id)
                if product is None:
                    raise InvalidInput(
                        f"items[{index}].product_id", f"unknown product {line.product_id!r}"
                    )
                lines.append(OrderLine(line.product_id, line.quantity, product.price))

            now = self._clock.now()
            order = Order.place(
                order_id=str(uuid.uuid4()),
                customer=command.customer,
                items=tuple(lines),
                payment_method=command.payment_method,
                now=now,
            )
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
                        created_at=now,
                    )
                )
            uow.commit()
        self._metrics.increment("orders_placed_total")
        return PlacementResult(order=response, created=True)
