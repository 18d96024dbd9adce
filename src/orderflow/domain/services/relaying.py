"""The outbox relay: moves committed outbox rows to the broker (and
notification rows to the notifier), then marks them published."""

from __future__ import annotations

import logging
from collections.abc import Callable

from orderflow.domain.envelope import Topics
from orderflow.domain.errors import NotificationFailed
from orderflow.domain.services.notifications import from_outbox_message
from orderflow.ports.clock import Clock
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.notifier import Notifier
from orderflow.ports.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], UnitOfWork],
        publisher: MessagePublisher,
        notifier: Notifier,
        clock: Clock,
        topics: Topics,
        batch_size: int = 500,
    ) -> None:
        self._uow_factory = uow_factory
        self._publisher = publisher
        self._notifier = notifier
        self._clock = clock
        self._topics = topics
        self._batch_size = batch_size

    def drain_once(self) -> int:
        """Publish one batch; returns how many messages it marked published.

        The claimed rows stay locked until commit, so a concurrent relay skips
        them. If the broker fails, nothing is marked and the batch is retried
        on the next call (at-least-once: consumers are idempotent)."""
        with self._uow_factory() as uow:
            batch = uow.outbox.claim_batch(limit=self._batch_size)
            if not batch:
                return 0
            to_broker = [m for m in batch if m.topic != self._topics.notifications]
            if to_broker:
                self._publisher.publish(to_broker)
            done = [m.seq for m in to_broker if m.seq is not None]
            for message in batch:
                if message.topic != self._topics.notifications or message.seq is None:
                    continue
                try:
                    self._notifier.send(from_outbox_message(message))
                except NotificationFailed as exc:
                    log.warning("notification for %s failed, will retry: %s", message.key, exc)
                    continue
                done.append(message.seq)
            uow.outbox.mark_published(seqs=done, at=self._clock.now())
            uow.commit()
            return len(done)
