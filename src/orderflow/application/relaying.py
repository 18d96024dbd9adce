"""The outbox relay: moves committed outbox rows to the broker (and
notification rows to the notification ledger, for the dispatcher to send),
then marks them published."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from orderflow.ports.clock import Clock
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.notifier import NOTIFICATIONS_TOPIC, NotificationLedger, notification_of
from orderflow.ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxRelay:
    uow_factory: UnitOfWorkFactory
    publisher: MessagePublisher
    ledger: NotificationLedger
    clock: Clock
    batch_size: int = 500

    def drain_once(self) -> int:
        """Publish one batch; returns how many messages it marked published.

        The claimed rows stay locked until commit, so a concurrent relay skips
        them. If the broker fails, nothing is marked and the batch is retried
        on the next call (at-least-once: consumers are idempotent)."""
        with self.uow_factory() as uow:
            batch = uow.outbox.claim_batch(limit=self.batch_size)
            if not batch:
                return 0
            to_broker = [m for m in batch if m.topic != NOTIFICATIONS_TOPIC]
            notes = [m for m in batch if m.topic == NOTIFICATIONS_TOPIC]
            if to_broker:
                self.publisher.publish(to_broker)
            done = [m.seq for m in to_broker if m.seq is not None]
            uow.outbox.mark_published(seqs=done, at=self.clock.now())
            uow.commit()
        if notes:
            # After that commit, not inside it: the ledger writes in its own
            # transaction, and SQLite admits one writer at a time. Recording
            # is idempotent by id, so a note recorded twice (a crash before
            # the mark below, or another relay claiming it meanwhile) is
            # recorded once, and so sent at most once.
            self.ledger.record(
                [(m.message_id, notification_of(m)) for m in notes], now=self.clock.now()
            )
            with self.uow_factory() as uow:
                uow.outbox.mark_published(
                    seqs=[m.seq for m in notes if m.seq is not None], at=self.clock.now()
                )
                uow.commit()
        return len(done) + len(notes)
