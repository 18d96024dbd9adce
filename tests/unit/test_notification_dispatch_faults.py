"""The notification dispatcher when the database goes away in the middle of a
claimed batch: the sends it made are recorded once the ledger answers again,
the records it had claimed but not attempted yet are still sent, and every
notification goes out exactly once (found by the fault suite's database
outage, where a batch's unattempted notifications stayed `sending`, turned
`unknown` after the lease and were never sent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.services.notifying import DeliveryPolicy, NotificationDispatcher
from orderflow.ports.clock import Clock
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FixedClock(Clock):
    def now(self) -> datetime:
        return NOW


class OutageLedger(NotificationLedger):
    """The memory ledger; while `down`, every call raises StorageUnavailable.
    `fail_after_write` makes the next mark_sent land and then raise, as when
    the connection dies before the acknowledgement arrives."""

    def __init__(self) -> None:
        self.inner = MemoryNotificationLedger()
        self.down = False
        self.fail_after_write = False
        self.go_down_after_sends = -1  # the database goes away after this many mark_sent

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("database unreachable (injected)")

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        self._check()
        return self.inner.record(items, now=now)

    def claim_due(self, *, now: datetime, limit: int) -> list[NotificationRecord]:
        self._check()
        return self.inner.claim_due(now=now, limit=limit)

    def mark_sent(self, notification_id: str, *, at: datetime) -> None:
        if self.go_down_after_sends == 0:
            self.down = True
        self.go_down_after_sends -= 1
        self._check()
        self.inner.mark_sent(notification_id, at=at)
        if self.fail_after_write:
            self.fail_after_write = False
            raise StorageUnavailable("connection lost after the commit (injected)")

    def retry_at(self, notification_id: str, *, at: datetime, error: str) -> None:
        self._check()
        self.inner.retry_at(notification_id, at=at, error=error)

    def give_up(self, notification_id: str, *, error: str) -> None:
        self._check()
        self.inner.give_up(notification_id, error=error)

    def abandon_claims(self, *, claimed_before: datetime) -> list[str]:
        self._check()
        return self.inner.abandon_claims(claimed_before=claimed_before)

    def get(self, notification_id: str) -> NotificationRecord | None:
        return self.inner.get(notification_id)

    def pending_count(self) -> int:
        return self.inner.pending_count()


def notifications(count: int) -> list[tuple[str, Notification]]:
    return [
        (f"n{i}", Notification(f"order-{i}", "completed", f"c{i}@example.com", "s", "b"))
        for i in range(count)
    ]


def states(ledger: NotificationLedger) -> set[DeliveryState | None]:
    return {record.state if record else None for record in (ledger.get(f"n{i}") for i in range(5))}


@pytest.fixture
def ledger() -> OutageLedger:
    ledger = OutageLedger()
    ledger.record(notifications(5), now=NOW)
    return ledger


def dispatcher(ledger: NotificationLedger, notifier: RecordingNotifier) -> NotificationDispatcher:
    return NotificationDispatcher(
        ledger=ledger,
        notifier=notifier,
        clock=FixedClock(),
        metrics=MemoryMetrics(),
        policy=DeliveryPolicy(batch_size=50),
    )


def test_an_outage_in_the_middle_of_a_batch_still_sends_each_notification_once(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.go_down_after_sends = 2  # two sends recorded, then the database goes

    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()
    assert len(notifier.sent) == 3  # the third was sent, its outcome not recorded
    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()  # still down: nothing more is sent
    assert len(notifier.sent) == 3

    ledger.down = False
    while dispatch.dispatch_once():
        pass

    assert sorted(n.order_id for n in notifier.sent) == [f"order-{i}" for i in range(5)]
    assert states(ledger) == {DeliveryState.SENT}


def test_an_outcome_whose_acknowledgement_was_lost_is_recorded_once_and_not_sent_again(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.fail_after_write = True

    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()
    while dispatch.dispatch_once():
        pass

    assert sorted(n.order_id for n in notifier.sent) == [f"order-{i}" for i in range(5)]
    assert states(ledger) == {DeliveryState.SENT}
