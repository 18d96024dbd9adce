"""The notification dispatcher writes a batch's outcomes together, and when the
database goes away in the middle of a claimed batch, the sends it made are
recorded once the ledger answers again,
the records it had claimed but not attempted yet are still sent, and every
notification goes out exactly once (found by the fault suite's database
outage, where a batch's unattempted notifications stayed `sending`, turned
`unknown` after the lease and were never sent). Likewise a claim whose
answer the outage lost (committed, then the connection died) is released by
its token once the database answers, and its notifications are sent once."""

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
    before the acknowledgement arrives; `claim_lost` and `release_lost` do
    the same to the next claim (the database staying down after it when
    `claim_lost` is "down") and the next release. `settled` keeps each
    settle call's outcomes, `tokens` each claim's token, `released` each
    release's token."""

    def __init__(self) -> None:
        self.inner = MemoryNotificationLedger()
        self.down = False
        self.down_after_claim = False
        self.down_after_settles = -1
        self.fail_after_write = False
        self.claim_lost: str | None = None  # "answer" or "down"
        self.release_lost = False
        self.settled: list[list[Outcome]] = []
        self.tokens: list[str] = []
        self.released: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("database unreachable (injected)")

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        self._check()
        return self.inner.record(items, now=now)

    def claim_due(self, *, now: datetime, limit: int, token: str) -> list[NotificationRecord]:
        self._check()
        self.tokens.append(token)
        claimed = self.inner.claim_due(now=now, limit=limit, token=token)
        if self.down_after_claim and claimed:
            self.down_after_claim, self.down = False, True
        if self.claim_lost is not None:
            self.down, self.claim_lost = self.claim_lost == "down", None
            raise StorageUnavailable("connection lost after the claim's commit (injected)")
        return claimed

    def release_claim(self, token: str) -> list[str]:
        self._check()
        self.released.append(token)
        released = self.inner.release_claim(token)
        if self.release_lost:
            self.release_lost = False
            raise StorageUnavailable("connection lost after the release's commit (injected)")
        return released

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


def test_a_claim_whose_answer_was_lost_is_released_and_sent_once_when_the_database_is_back(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.claim_lost = "down"  # the claim commits, its answer is lost, the database goes

    while_it_is_down(dispatch, notifier, sent=0)
    assert states(ledger) == {DeliveryState.SENDING}  # claimed, by a token it kept
    assert ledger.released == []  # the database was down: nothing released yet

    ledger.down = False
    drain(dispatch)

    assert sent_once_each(notifier, ledger)
    lost, *later = ledger.tokens
    assert ledger.released == [lost]  # released once, before the next claim
    assert lost not in later
    attempts = [record.attempts for record in map(ledger.get, ("n0", "n4")) if record]
    assert attempts == [1, 1]  # the lost claim's attempt not counted


def test_a_release_whose_answer_was_lost_is_made_again_and_sends_each_once(
    ledger: OutageLedger,
) -> None:
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.claim_lost = "answer"
    ledger.release_lost = True

    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()  # the claim's answer lost
    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()  # the release landed, its answer lost
    assert states(ledger) == {DeliveryState.PENDING}
    drain(dispatch)

    assert sent_once_each(notifier, ledger)
    assert len(ledger.released) == 2 and len(set(ledger.released)) == 1


def test_a_lost_claim_s_release_leaves_another_dispatcher_s_claim_alone(
    ledger: OutageLedger,
) -> None:
    theirs = ledger.inner.claim_due(now=NOW, limit=2, token="another dispatcher")
    notifier = RecordingNotifier()
    dispatch = dispatcher(ledger, notifier)
    ledger.claim_lost = "answer"

    with pytest.raises(StorageUnavailable):
        dispatch.dispatch_once()
    drain(dispatch)

    sent = sorted(n.order_id for n in notifier.sent)
    assert sent == ["order-2", "order-3", "order-4"]  # the other one sends its own
    for record in theirs:
        kept = ledger.get(record.notification_id)
        assert kept is not None and kept.state is DeliveryState.SENDING
        assert kept.claimed_by == "another dispatcher"


class SlowNotifier(RecordingNotifier):
    def __init__(self, *, delay_s: float) -> None:
        super().__init__()
        self._delay_s = delay_s

    def send(self, notification: Notification) -> None:
        time.sleep(self._delay_s)
        super().send(notification)
