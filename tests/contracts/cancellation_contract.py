"""Cancelling, on every store: the use cases (OrderCancellation and the
worker's OrderProcessor) over a real unit of work, so that each store's
locking decides the races.

Mix CancellationContract into a test class that provides `uow_factory` over
an EMPTY store. Whatever the moment a cancel lands (pending, processing,
completed), the order ends cancelled and every product's stock ends where
it was before the order: the units a completed order took go back exactly
once, however many cancels and redeliveries race, and the customer is told
of the cancel once (one notification staged by a committed unit of work)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TypeVar

import pytest

from orderflow.adapters.delegating import DelegatingUnitOfWork, DelegatingUnitOfWorkFactory
from orderflow.adapters.memory.cache import MemoryOrderCache
from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.system_clock import SystemClock
from orderflow.application.cancelling import Cancelled, OrderCancellation
from orderflow.application.messages import Topics
from orderflow.application.processing import OrderProcessor
from orderflow.domain.errors import InfrastructureError, InvalidTransition
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import Order, OrderLine, OrderStatus, Product
from orderflow.ports.notifier import Notification, NotificationRecorder
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.contracts.persistence_contract import an_order

T = TypeVar("T")

STOCK = {"laptop": 20, "mouse": 100}


def retried(action: Callable[[], T], *, attempts: int = 50) -> T:
    """What a worker or a client does on a transient error (a lock wait that
    ran out, a deadlock victim): try again."""
    for attempt in range(attempts):
        try:
            return action()
        except InfrastructureError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class _SeenRecorder(NotificationRecorder):
    def __init__(self, inner: NotificationRecorder, staged: list[Notification]) -> None:
        self._inner = inner
        self._staged = staged

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> None:
        self._staged.extend(notification for _, notification in items)
        self._inner.record(items, now=now)


class _WatchedUnitOfWork(DelegatingUnitOfWork):
    def __init__(self, inner: UnitOfWork, notified: NotificationsStaged) -> None:
        super().__init__(inner)
        self._notified = notified
        self._staged: list[Notification] = []

    def _bind(self) -> None:
        super()._bind()
        self.notifications = _SeenRecorder(self._inner.notifications, self._staged)

    def commit(self) -> None:
        super().commit()
        self._notified.committed(self._staged)
        self._staged.clear()

    def rollback(self) -> None:
        super().rollback()
        self._staged.clear()


class NotificationsStaged(DelegatingUnitOfWorkFactory):
    """The store's units of work, noting each notification a committed one
    staged: what the use cases asked to send, before the ledger's ids
    (one per order and status) would hide a second staging of the same."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self._statuses: dict[str, list[str]] = {}

    def __call__(self) -> UnitOfWork:
        return _WatchedUnitOfWork(self._inner(), self)

    def committed(self, notifications: Sequence[Notification]) -> None:
        with self._lock:
            for notification in notifications:
                self._statuses.setdefault(notification.order_id, []).append(notification.status)

    def statuses(self, order_id: str) -> list[str]:
        """The statuses the order's committed notifications announced, in order."""
        with self._lock:
            return list(self._statuses.get(order_id, []))


class Shop:
    """The two use cases a cancel races, over one store."""

    def __init__(self, uow_factory: UnitOfWorkFactory, *, delay_s: float = 0.0) -> None:
        self.notified = NotificationsStaged(uow_factory)
        self.uow_factory: UnitOfWorkFactory = self.notified
        clock, cache, metrics, topics = SystemClock(), MemoryOrderCache(), MemoryMetrics(), Topics()
        self.processor = OrderProcessor(
            uow_factory=self.uow_factory,
            clock=clock,
            cache=cache,
            metrics=metrics,
            topics=topics,
            processing_delay_s=delay_s,
        )
        self.cancellation = OrderCancellation(
            uow_factory=self.uow_factory, clock=clock, cache=cache, metrics=metrics, topics=topics
        )

    def stock(self) -> dict[str, int]:
        with self.uow_factory() as uow:
            found = uow.products.get_many(sorted(STOCK))
        return {product_id: product.stock for product_id, product in found.items()}

    def place(self, n: int = 1) -> list[Order]:
        orders = [
            an_order(
                lines=(
                    OrderLine("laptop", 1, Decimal("999.00")),
                    OrderLine("mouse", 2, Decimal("19.90")),
                    OrderLine("mouse", 1, Decimal("19.90")),
                )
            )
            for _ in range(n)
        ]
        with self.uow_factory() as uow:
            uow.orders.add_many(orders)
            uow.commit()
        return orders

    def deliver(self, order: Order) -> Order:
        """The worker's handling of the order's OrderPlaced (a batch of one),
        retried on transient errors as the worker does."""
        (result,) = retried(lambda: self.processor.handle_many([OrderPlaced.of(order)]))
        assert result is not None
        return result

    def cancel(self, order_id: str) -> Cancelled:
        return retried(lambda: self.cancellation.cancel(order_id))

    def stored(self, order_id: str) -> Order:
        with self.uow_factory() as uow:
            order = uow.orders.get(order_id)
        assert order is not None
        return order


class CancellationContract:
    @pytest.fixture
    def shop(self, uow_factory: UnitOfWorkFactory) -> Shop:
        with uow_factory() as uow:
            for product_id, stock in STOCK.items():
                uow.products.upsert(Product(product_id, product_id, "", Decimal("1.00"), stock))
            uow.commit()
        return Shop(uow_factory)

    def test_a_pending_order_is_cancelled_and_the_worker_then_reserves_nothing(
        self, shop: Shop
    ) -> None:
        [order] = shop.place()

        cancelled = shop.cancel(order.id)

        assert cancelled.order.status is OrderStatus.CANCELLED
        assert cancelled.restocked == {}
        assert shop.deliver(order).status is OrderStatus.CANCELLED  # a late delivery
        assert shop.stored(order.id).status is OrderStatus.CANCELLED
        assert shop.stock() == STOCK

    def test_an_order_cancelled_while_processing_is_never_completed(
        self, shop: Shop, uow_factory: UnitOfWorkFactory
    ) -> None:
        slow = Shop(uow_factory, delay_s=0.5)
        [order] = shop.place()
        worker = threading.Thread(target=slow.deliver, args=(order,))
        worker.start()
        deadline = time.monotonic() + 10
        while shop.stored(order.id).status is OrderStatus.PENDING:
            assert time.monotonic() < deadline, "the worker never started the order"
            time.sleep(0.01)

        cancelled = shop.cancel(order.id)
        worker.join(timeout=30)

        assert not worker.is_alive()
        assert [step.status for step in cancelled.order.history] == [
            OrderStatus.PENDING,
            OrderStatus.PROCESSING,
            OrderStatus.CANCELLED,
        ]
        assert cancelled.restocked == {}
        assert shop.stored(order.id).status is OrderStatus.CANCELLED
        assert shop.stock() == STOCK

    def test_a_completed_order_gives_back_every_unit_it_took_once(self, shop: Shop) -> None:
        [order] = shop.place()
        assert shop.deliver(order).status is OrderStatus.COMPLETED
        assert shop.stock() == {"laptop": 19, "mouse": 97}
        assert shop.stored(order.id).reserved == {"laptop": 1, "mouse": 3}

        cancelled = shop.cancel(order.id)

        assert cancelled.restocked == {"laptop": 1, "mouse": 3}
        assert shop.stock() == STOCK
        stored = shop.stored(order.id)
        assert stored.status is OrderStatus.CANCELLED and stored.reserved == {}
        # A redelivery and a second cancel change nothing.
        assert shop.deliver(order).status is OrderStatus.CANCELLED
        with pytest.raises(InvalidTransition):
            shop.cancel(order.id)
        assert shop.stock() == STOCK

    def test_the_customer_is_told_of_a_cancel_once_whatever_redeliveries_follow(
        self, shop: Shop
    ) -> None:
        pending, completed = shop.place(2)
        assert shop.deliver(completed).status is OrderStatus.COMPLETED
        for order in (pending, completed):
            shop.cancel(order.id)

        for _ in range(3):
            for order in (pending, completed):
                # The worker's message for the order delivered again, and
                # the customer pressing cancel again.
                assert shop.deliver(order).status is OrderStatus.CANCELLED
                with pytest.raises(InvalidTransition):
                    shop.cancel(order.id)

        assert shop.notified.statuses(pending.id) == ["cancelled"]
        assert shop.notified.statuses(completed.id) == ["completed", "cancelled"]
        assert shop.stock() == STOCK

    def test_a_failed_order_cannot_be_cancelled_and_nothing_moves(self, shop: Shop) -> None:
        [order] = shop.place()
        with shop.uow_factory() as uow:
            mouse = uow.products.get("mouse")
            assert mouse is not None
            mouse.stock = 2  # the order wants 3
            uow.products.save(mouse)
            uow.commit()
        assert shop.deliver(order).status is OrderStatus.FAILED
        before = shop.stock()

        with pytest.raises(InvalidTransition):
            shop.cancel(order.id)

        assert shop.stored(order.id).status is OrderStatus.FAILED
        assert shop.stock() == before == {"laptop": 20, "mouse": 2}

    def test_fifty_cancels_racing_redeliveries_restock_exactly_once(self, shop: Shop) -> None:
        orders = shop.place(5)
        # Some complete before the storm, the others race it from pending.
        for order in orders[:2]:
            shop.deliver(order)
        outcomes: list[str] = []

        def cancel(order: Order) -> None:
            try:
                shop.cancel(order.id)
                outcomes.append(order.id)
            except InvalidTransition:
                pass

        jobs: list[Callable[[], object]] = []
        for round_ in range(10):
            for order in orders:
                jobs.append(partial(cancel, order))
                if round_ % 3 == 0:
                    jobs.append(partial(shop.deliver, order))
        with ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()

        assert sorted(outcomes) == sorted(order.id for order in orders)  # one cancel each
        for order in orders:
            # Told of the cancel once; of the completion at most once, where
            # a delivery won the race (always for the first two). Sorted:
            # racing threads note their commits in either order.
            statuses = sorted(shop.notified.statuses(order.id))
            assert statuses in (["cancelled"], ["cancelled", "completed"]), statuses
        assert all("completed" in shop.notified.statuses(o.id) for o in orders[:2])
        assert all(shop.stored(o.id).status is OrderStatus.CANCELLED for o in orders)
        assert shop.stock() == STOCK
        for order in orders:
            assert shop.deliver(order).status is OrderStatus.CANCELLED
        assert shop.stock() == STOCK
