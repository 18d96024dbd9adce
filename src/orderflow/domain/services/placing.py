"""Placing an order: price it from the catalog, store it with its OrderPlaced
event in one transaction (the outbox), honouring Idempotency-Key.

When the database is unreachable, intake stays available (SPEC: the seed's
broker fallback): the order is priced from the prices this process last read
from the catalog and its OrderPlaced event is published straight to the
broker; the worker persists it (upsert by id) once the database is back. If
the broker is down too, or a price was never seen, the caller gets the
StorageUnavailable/BrokerUnavailable (503).

Group commit: where the unit of work allows batches, requests without an
Idempotency-Key that arrive while another placement is being committed are
placed together, in one transaction (one catalog read, one multi-row insert
per table, one commit), by the first of them to have arrived, whom the
previous batch's thread hands the turn to; each caller still returns only
once its own order is committed. A batch that fails for anything but an
outage is placed again one request at a time."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.envelope import Topics, to_outbox
from orderflow.domain.errors import (
    DuplicateKey,
    IdempotencyConflict,
    InvalidInput,
    StorageUnavailable,
)
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import Order, OrderLine
from orderflow.ports.clock import Clock
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.metrics import Metrics
from orderflow.ports.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlacementResult:
    order: dict[str, object]  # the response body: the order as first stored
    created: bool  # False when an Idempotency-Key replayed an earlier response


def _closed_gate() -> threading.Lock:
    gate = threading.Lock()
    gate.acquire()
    return gate


@dataclass(slots=True)
class _Slot:
    """One request waiting in a group commit."""

    command: PlaceOrder
    order_id: str  # kept if the group's commit fails and the order goes through the broker
    result: PlacementResult | None = None
    error: Exception | None = None
    alone: bool = False  # its batch failed: place it by itself
    batch: list[_Slot] | None = None  # set when it is to lead: itself first, then the others
    # Released once, when the slot's batch is done or when it is to lead:
    # each waiter is woken by itself, never all of them to find out which
    # (a Condition's notify_all woke every waiting thread after every batch,
    # about a tenth of intake's CPU with eight threads).
    gate: threading.Lock = field(default_factory=_closed_gate)


def _fingerprint_of(order: Order) -> str:
    """The fingerprint of the request that placed `order`."""
    return PlaceOrder(
        customer=order.customer,
        items=tuple(LineRequest(line.product_id, line.quantity) for line in order.items),
        payment_method=order.payment_method,
    ).fingerprint()


def _as_placed(order: Order) -> dict[str, object]:
    """The response body of a new order: the snapshot its OrderPlaced event
    already holds (the same dict `to_dict` would build again; nothing
    changes either). Read before the events are cleared."""
    for event in order.events:
        if isinstance(event, OrderPlaced):
            return event.order
    return order.to_dict()


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
        batch_limit: int | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._metrics = metrics
        self._topics = topics
        self._fallback = fallback_publisher
        self._prices_lock = threading.Lock()
        self._last_prices: dict[str, Decimal] = {}
        self._batch_limit = max(
            1, batch_limit if batch_limit is not None else getattr(uow_factory, "batch_limit", 1)
        )
        self._turn = threading.Lock()  # guards _waiting and _in_flight
        self._waiting: deque[_Slot] = deque()
        # Batches being committed at once; someone waits only while this is
        # at its maximum. One: the requests that arrive while a batch commits
        # all go in the next, so batches are larger (about 4 instead of 2.5
        # with 8 threads) and intake costs less CPU per order (0.73 instead of
        # 0.86 ms in the API under wrk), which is what limits it. Two let the
        # next batch start while one waited for its commit; that was slower
        # (docs/DECISIONS.md).
        self._in_flight = 0
        self._max_in_flight = 1

    def place(self, command: PlaceOrder) -> PlacementResult:
        # One id for every path this request takes: a commit whose
        # acknowledgement was lost (StorageUnavailable after the row landed)
        # falls back to the broker with the same order, and the worker's
        # upsert by id keeps it one order.
        order_id = order_id_for(command.idempotency_key)
        try:
            try:
                if command.idempotency_key is None and self._batch_limit > 1:
                    return self._place_grouped(command, order_id)
                return self._place_once(command, order_id)
            except DuplicateKey:
                # A concurrent request with the same Idempotency-Key committed
                # first; the second attempt finds its record and replays it.
                if command.idempotency_key is None:
                    raise
                return self._place_once(command, order_id)
        except StorageUnavailable:
            if self._fallback is None:
                raise
            return self._place_through_broker(command, order_id)

    def _place_once(self, command: PlaceOrder, order_id: str) -> PlacementResult:
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
                # the worker (no record), or committed by a concurrent request
                # between the two reads (its record is visible now under READ
                # COMMITTED): same key, same id. A replay only if the body is
                # the same; a different body under the key is a conflict.
                stored = uow.orders.get(order_id)
                if stored is not None:
                    record = uow.idempotency.get(key)
                    stored_fingerprint = (
                        record.fingerprint if record is not None else _fingerprint_of(stored)
                    )
                    if stored_fingerprint != fingerprint:
                        raise IdempotencyConflict(key)
                    response = record.response if record is not None else stored.to_dict()
                    return PlacementResult(order=response, created=False)

            catalog = uow.products.prices([line.product_id for line in command.items])
            prices = self._prices(command, catalog)
            self._remember(prices)

            order = self._new_order(command, prices, order_id)
            uow.orders.add(order)
            uow.outbox.add(to_outbox(order.events, topics=self._topics))
            response = _as_placed(order)
            order.events.clear()
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

    def _place_grouped(self, command: PlaceOrder, order_id: str) -> PlacementResult:
        slot = _Slot(command, order_id)
        with self._turn:
            if self._in_flight < self._max_in_flight:
                self._in_flight += 1
                slot.batch = self._gather(slot)
            else:
                self._waiting.append(slot)
        if slot.batch is None:
            slot.gate.acquire()  # until its batch is done, or it is to lead one
        if slot.batch is not None:
            try:
                self._place_batch(slot.batch)
            finally:
                self._hand_over(slot.batch)
        if slot.alone:
            return self._place_once(command, order_id)
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result

    def _gather(self, leader: _Slot) -> list[_Slot]:
        """The leader and whoever waits, up to the batch limit (under _turn)."""
        batch = [leader]
        while self._waiting and len(batch) < self._batch_limit:
            batch.append(self._waiting.popleft())
        return batch

    def _hand_over(self, batch: list[_Slot]) -> None:
        """The batch is done: the first request waiting (if any) leads the
        ones waiting now, in this batch's place; then its members are woken."""
        with self._turn:
            successor = self._waiting.popleft() if self._waiting else None
            if successor is None:
                self._in_flight -= 1
            else:
                successor.batch = self._gather(successor)
        if successor is not None:
            successor.gate.release()
        for member in batch[1:]:  # the first is the leader, this thread
            member.gate.release()

    def _place_batch(self, batch: list[_Slot]) -> None:
        """Every slot gets a result, an error of its own (an unknown product),
        the batch's outage, or `alone` when the batch failed otherwise."""
        try:
            placed = self._store_batch(batch)
        except StorageUnavailable as exc:
            for slot in batch:
                # Each caller raises its own (and then falls back to the broker).
                slot.error = StorageUnavailable(str(exc))
                slot.error.__cause__ = exc
            return
        except Exception:
            log.warning("a group commit of %d orders failed; placing them one by one", len(batch))
            for slot in batch:
                slot.alone = slot.error is None
            return
        for slot, response in placed:
            slot.result = PlacementResult(order=response, created=True)
        if placed:
            self._metrics.increment("orders_placed_total", len(placed), path="outbox")

    def _store_batch(self, batch: list[_Slot]) -> list[tuple[_Slot, dict[str, object]]]:
        with self._uow_factory() as uow:
            catalog = uow.products.prices(
                [line.product_id for slot in batch for line in slot.command.items]
            )
            orders: list[tuple[_Slot, Order]] = []
            for slot in batch:
                try:
                    prices = self._prices(slot.command, catalog)
                except InvalidInput as exc:
                    slot.error = exc
                    continue
                orders.append((slot, self._new_order(slot.command, prices, slot.order_id)))
            if not orders:
                return []
            self._remember(catalog)
            uow.orders.add_many([order for _, order in orders])
            uow.outbox.add(
                [m for _, order in orders for m in to_outbox(order.events, topics=self._topics)]
            )
            placed = []
            for slot, order in orders:
                placed.append((slot, _as_placed(order)))
                order.events.clear()
            uow.commit()
        return placed

    @staticmethod
    def _prices(command: PlaceOrder, catalog: dict[str, Decimal]) -> dict[str, Decimal]:
        """The catalog prices of the command's lines; InvalidInput naming the
        first line whose product is unknown."""
        prices: dict[str, Decimal] = {}
        for index, line in enumerate(command.items):
            price = catalog.get(line.product_id)
            if price is None:
                raise InvalidInput(
                    f"items[{index}].product_id", f"unknown product {line.product_id!r}"
                )
            prices[line.product_id] = price
        return prices

    def _place_through_broker(self, command: PlaceOrder, order_id: str) -> PlacementResult:
        with self._prices_lock:
            prices = {
                line.product_id: self._last_prices[line.product_id]
                for line in command.items
                if line.product_id in self._last_prices
            }
        if len(prices) < len({line.product_id for line in command.items}):
            raise StorageUnavailable("database unavailable and a price is not known")
        order = self._new_order(command, prices, order_id)
        assert self._fallback is not None
        self._fallback.publish(to_outbox(order.events, topics=self._topics))
        response = _as_placed(order)
        order.events.clear()
        self._metrics.increment("orders_placed_total", path="broker_fallback")
        return PlacementResult(order=response, created=True)

    def _new_order(self, command: PlaceOrder, prices: dict[str, Decimal], order_id: str) -> Order:
        return Order.place(
            order_id=order_id,
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
