"""No order stays stuck: re-drive orders left pending or processing too long
by publishing their OrderPlaced event again (processing is idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from orderflow.application.messages import Topics, to_outbox
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import OrderStatus
from orderflow.ports.clock import Clock
from orderflow.ports.unit_of_work import UnitOfWorkFactory

STUCK_STATUSES = (OrderStatus.PENDING, OrderStatus.PROCESSING)


@dataclass(frozen=True, kw_only=True, slots=True)
class StuckOrderSweeper:
    uow_factory: UnitOfWorkFactory
    clock: Clock
    topics: Topics
    batch_size: int = 500

    def sweep(self, *, older_than: timedelta, limit: int | None = None) -> int:
        """Re-publish up to `limit` (default: one batch) stuck orders; returns how many."""
        cutoff = self.clock.now() - older_than
        with self.uow_factory() as uow:
            stuck = uow.orders.list_stuck(
                statuses=STUCK_STATUSES, older_than=cutoff, limit=limit or self.batch_size
            )
            events = [OrderPlaced.of(order) for order in stuck]
            uow.outbox.add(to_outbox(events, topics=self.topics))
            uow.commit()
        return len(stuck)
