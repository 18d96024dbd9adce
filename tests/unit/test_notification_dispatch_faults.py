"""The notification dispatcher writes a batch's outcomes together, and when the
database goes away in the middle of a claimed batch, the sends it made are
recorded once the ledger answers again,
the records it had claimed but not attempted yet are still sent, and every
notification goes out exactly once (found by the fault suite's database
outage, where a batch's unattempted notifications stayed `sending`, turned
`unknown` after the lease and were never sent)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.application.notifying import DeliveryPolicy, NotificationDispatcher
from orderflow.domain.errors import StorageUnavailable
from orderflow.ports.clock import Clock
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
    Notifier,
    Outcome,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FixedClock(Clock):
    def now(self) -> datetime:
        return NOW


class OutageLedger(NotificationLedger):
    """The memory ledger; while `down`, every call raises StorageUnavailable.
    `down_after_claim` takes the database away once a claim has been made;
    `down_after_settles` after that many settle calls; `fail_after_write`
    makes the next settle land and then raise, as when the connection dies
    before the acknowledgement arrives. `settled` keeps each settle call's
    outcomes."""

    def __init__(self) -> None:
        self.inner = MemoryNotificationLedger()
        self.down = False
        self.down_after_claim = False
        self.down_after_settles = -1
        self.fail_after_write = False
        self.settled: list[list[Outcome]] = []

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("database unreachable (injected)")

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        self._check()
        return self.inner.record(items, now=now)

    def claim_due(self, *, now: datetime, limit: int) -> list[NotificationRecord]:
        self._check()
        claimed = self.inner.claim_due(now=now, limit=limit)
        if self.down_after_claim and claimed:
            self.down_after_claim, self.down = False, True
        return claimed

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        if self.down_after_settles == 0:
            self.down = True
        self.down_after_settles -= 1
        self._check()
        self.inner.settle(outcomes)
        self.settled.append(list(outcomes))
        if self.fail_after_write:
            self.fail_after_write = False
            raise StorageUnavailable("connection lost after the commit (injected)")

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


def dispatcher(
    ledger: NotificationLedger,
    notifier: Notifier,
    *,
    record_within: timedelta | None = None,
) -> NotificationDispatcher:
    policy = DeliveryPolicy(batch_size=50)
    if record_within is not None:
        policy = replace(policy, record_within=record_within)
    return NotificationDispatcher(
        ledger=ledger,
        notifier=notifier,
        clock=FixedClock(),
        metrics=MemoryMetrics(),
        policy=policy,
    )


def drain(dispatch: NotificationDispatcher) -> None:
    while dispatch.dispatch_once():
        pass


def while_it_is_down(
    dispatch: NotificationDispatcher, notifier: RecordingNotifier, *, sent: int
) -> None:
    """The call that meets the outage has sent `sent` notifications; the next
    one, the database still down, sends nothing more."""
    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()
    assert len(notifier.sent) == sent
    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()
    assert len(notifier.sent) == sent


def sent_once_each(notifier: RecordingNotifier, ledger: NotificationLedger) -> bool:
    orders = sorted(n.order_id for n in notifier.sent)
    return orders == [f"order-{i}" for i in range(5)] and states(ledger) == {DeliveryState.SENT}


def test_a_batch_s_outcomes_are_written_in_one_call(ledger: OutageLedger) -> None:
    notifier = RecordingNotifier()

    assert dispatcher(ledger, notifier).dispatch_once() == 5

    assert [len(outcomes) for outcomes in ledger.settled] == [5]
    assert sent_once_each(notifier, ledger)


def test_a_slow_notifier_s_outcomes_are_written_as_they_age(ledger: OutageLedger) -> None:
    notifier = SlowNotifier(delay_s=0.02)

    dispatcher(ledger, notifier, record_within=timedelta(milliseconds=1)).dispatch_once()

    assert [len(outcomes) for outcomes in ledger.settled] == [1] * 5
    assert sent_once_each(notifier, ledger)


def test_an_outage_while_a_batch_is_sent_records_it_later_and_sends_nothing_twice(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.down_after_claim = True  # the batch is claimed, then the database goes

    while_it_is_down(dispatch, notifier, sent=5)  # sent; their outcomes not recorded
    assert states(ledger) == {DeliveryState.SENDING}

    ledger.down = False
    drain(dispatch)

    assert sent_once_each(notifier, ledger)


def test_an_outage_in_the_middle_of_a_batch_still_sends_each_notification_once(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    # Every outcome written at once (as with a slow notifier): two writes
    # land, then the database goes.
    dispatch = dispatcher(ledger, notifier, record_within=timedelta(0))
    ledger.down_after_settles = 2

    while_it_is_down(dispatch, notifier, sent=3)  # the third's outcome not recorded
    ledger.down = False
    drain(dispatch)

    assert sent_once_each(notifier, ledger)


def test_an_outcome_whose_acknowledgement_was_lost_is_recorded_once_and_not_sent_again(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.fail_after_write = True

    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()
    drain(dispatch)

    assert sent_once_each(notifier, ledger)
    assert [len(outcomes) for outcomes in ledger.settled] == [5, 5]  # written again: no change


class SlowNotifier(RecordingNotifier):
    def __init__(self, *, delay_s: float) -> None:
        super().__init__()
        self._delay_s = delay_s

    def send(self, notification: Notification) -> None:
        time.sleep(self._delay_s)
        super().send(notification)
