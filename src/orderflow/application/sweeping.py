"""No order stays stuck: re-drive orders left pending or processing too long
by publishing their OrderPlaced event again (processing is idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from orderflow.application.messages import Topics, to_outbox
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import OrderStatus
from orderflow.ports.clock import Clock
from orderflow.ports.unit_of_work import UnitOfWork

STUCK_STATUSES = (OrderStatus.PENDING, OrderStatus.PROCESSING)


class StuckOrderSweeper:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        topics: Topics,
        batch_size: int = 500,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._topics = topics
        self._batch_size = batch_size

    def sweep(self, *, older_than: timedelta, limit: int | None = None) -> int:
        """Re-publish up to `limit` (default: one batch) stuck orders; returns how many."""
        cutoff = self._clock.now() - older_than
        with self._uow_factory() as uow:
            stuck = uow.orders.list_stuck(
                statuses=STUCK_STATUSES, older_than=cutoff, limit=limit or self._batch_size
            )
            events = [OrderPlaced.of(order) for order in stuck]
            uow.outbox.add(to_outbox(events, topics=self._topics))
            uow.commit()
        return len(stuck)
