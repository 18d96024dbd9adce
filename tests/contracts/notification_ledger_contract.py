"""The contract every NotificationLedger adapter keeps. Subclass it in a
test_*.py module with a `ledger` fixture over an EMPTY store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
    Outcome,
)
from tests.contracts.persistence_contract import run_together

T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)


def a_notification(order_id: str | None = None) -> tuple[str, Notification]:
    order_id = order_id or str(uuid.uuid4())
    return (
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order_id}/completed")),
        Notification(
            order_id,
            "completed",
            "ada@example.com",
            "Confirmed ✓",
            "Hello\nAda",
            # The processing's trace context comes back with it (tracing on).
            trace_headers={
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            },
        ),
    )


def a_token() -> str:
    """A claim's token, as the dispatcher makes one for each claim."""
    return str(uuid.uuid4())


def state_of(ledger: NotificationLedger, notification_id: str) -> NotificationRecord:
    record = ledger.get(notification_id)
    assert record is not None
    return record


class NotificationLedgerContract:
    @pytest.fixture
    def ledger(self) -> NotificationLedger:
        raise NotImplementedError("subclasses provide the adapter under test")

    def test_a_recorded_notification_round_trips_as_pending_and_due(
        self, ledger: NotificationLedger
    ) -> None:
        notification_id, notification = a_notification()
        assert ledger.record([(notification_id, notification)], now=T0) == 1

        record = ledger.get(notification_id)
        assert record is not None
        assert record.notification == notification
        assert record.state is DeliveryState.PENDING
        assert (record.attempts, record.next_attempt_at) == (0, T0)
        assert ledger.pending_count() == 1
        assert ledger.get(str(uuid.uuid4())) is None

    def test_recording_an_id_again_changes_nothing(self, ledger: NotificationLedger) -> None:
        item = a_notification()
        ledger.record([item], now=T0)
        ledger.claim_due(now=T0, limit=10, token=a_token())
        ledger.mark_sent(item[0], at=T0)

        assert ledger.record([item, item], now=T0 + timedelta(hours=1)) == 0

        record = ledger.get(item[0])
        assert record is not None and record.state is DeliveryState.SENT
        assert ledger.claim_due(now=T0 + timedelta(days=1), limit=10, token=a_token()) == []

    def test_a_claim_takes_due_records_oldest_first_once(self, ledger: NotificationLedger) -> None:
        first, second, later = a_notification(), a_notification(), a_notification()
        ledger.record([second], now=T0 + timedelta(seconds=1))
        ledger.record([first], now=T0)
        ledger.record([later], now=T0 + timedelta(minutes=5))

        token = a_token()
        claimed = ledger.claim_due(now=T0 + timedelta(seconds=1), limit=10, token=token)

        assert [r.notification_id for r in claimed] == [first[0], second[0]]
        assert all(r.state is DeliveryState.SENDING and r.attempts == 1 for r in claimed)
        assert all(r.claimed_by == token for r in claimed)
        assert state_of(ledger, first[0]).claimed_by == token
        assert state_of(ledger, later[0]).claimed_by is None
        assert all(r.claimed_at == T0 + timedelta(seconds=1) for r in claimed)
        assert ledger.claim_due(now=T0 + timedelta(seconds=1), limit=10, token=a_token()) == []
        assert ledger.pending_count() == 3

    def test_a_failed_send_is_due_again_later_and_counts_its_attempts(
        self, ledger: NotificationLedger
    ) -> None:
        item = a_notification()
        ledger.record([item], now=T0)
        ledger.claim_due(now=T0, limit=1, token=a_token())
        ledger.retry_at(item[0], at=T0 + timedelta(seconds=4), error="421 try later")

        assert ledger.claim_due(now=T0 + timedelta(seconds=3), limit=1, token=a_token()) == []
        again = ledger.claim_due(now=T0 + timedelta(seconds=4), limit=1, token=a_token())
        assert [r.attempts for r in again] == [2]
        assert again[0].last_error == "421 try later"
        ledger.give_up(item[0], error="still down")
        record = ledger.get(item[0])
        assert record is not None and record.state is DeliveryState.GIVEN_UP
        assert ledger.pending_count() == 0

    def test_stale_claims_become_unknown_and_are_never_claimed_again(
        self, ledger: NotificationLedger
    ) -> None:
        stale, fresh = a_notification(), a_notification()
        ledger.record([stale], now=T0)
        ledger.record([fresh], now=T0 + timedelta(seconds=1))
        ledger.claim_due(now=T0, limit=1, token=a_token())
        ledger.claim_due(now=T0 + timedelta(minutes=10), limit=1, token=a_token())

        assert ledger.abandon_claims(claimed_before=T0 + timedelta(minutes=5)) == [stale[0]]

        ledger.mark_sent(stale[0], at=T0 + timedelta(minutes=11))  # too late: stays unknown
        record = ledger.get(stale[0])
        assert record is not None and record.state is DeliveryState.UNKNOWN
        assert ledger.claim_due(now=T0 + timedelta(days=1), limit=10, token=a_token()) == []
        assert ledger.abandon_claims(claimed_before=T0 + timedelta(minutes=5)) == []

    def test_concurrent_claims_never_hand_one_record_to_two_dispatchers(
        self, ledger: NotificationLedger
    ) -> None:
        ledger.record([a_notification() for _ in range(12)], now=T0)

        batches = run_together(4, lambda: ledger.claim_due(now=T0, limit=5, token=a_token()))

        ids = [r.notification_id for batch in batches for r in batch]
        assert len(ids) == len(set(ids)) == 12

    def test_a_batch_is_recorded_at_once_counting_only_new_ids(
        self, ledger: NotificationLedger
    ) -> None:
        stored, first, second = a_notification(), a_notification(), a_notification()
        ledger.record([stored], now=T0)
        ledger.claim_due(now=T0, limit=10, token=a_token())

        later = T0 + timedelta(minutes=1)
        assert ledger.record([stored, first, second, first], now=later) == 2

        kept = ledger.get(stored[0])
        assert kept is not None and (kept.state, kept.attempts) == (DeliveryState.SENDING, 1)
        for notification_id, notification in (first, second):
            record = ledger.get(notification_id)
            assert record is not None and record.notification == notification
            assert (record.state, record.attempts, record.next_attempt_at) == (
                DeliveryState.PENDING,
                0,
                later,
            )
        assert ledger.record([], now=later) == 0

    def test_one_settle_writes_each_outcome_of_a_batch_once(
        self, ledger: NotificationLedger
    ) -> None:
        sent, retried, given_up, unclaimed = (a_notification() for _ in range(4))
        ledger.record([sent, retried, given_up], now=T0)
        ledger.claim_due(now=T0, limit=10, token=a_token())
        ledger.record([unclaimed], now=T0)
        sent_at = T0 + timedelta(seconds=1, microseconds=7)
        due_at = T0 + timedelta(seconds=9, microseconds=11)
        outcomes = [
            Outcome.sent(sent[0], at=sent_at),
            Outcome.retry(retried[0], at=due_at, error="421 try later"),
            Outcome.given_up(given_up[0], error="550 no such user"),
            Outcome.sent(unclaimed[0], at=sent_at),  # not claimed: not its outcome
        ]

        ledger.settle(outcomes)
        ledger.settle(outcomes)  # again, as after a lost acknowledgement: no change
        ledger.settle([])

        def record(item: tuple[str, Notification]) -> NotificationRecord:
            found = ledger.get(item[0])
            assert found is not None
            return found

        assert (record(sent).state, record(sent).sent_at) == (DeliveryState.SENT, sent_at)
        assert (record(retried).state, record(retried).next_attempt_at) == (
            DeliveryState.PENDING,
            due_at,
        )
        assert record(retried).last_error == "421 try later"
        assert record(retried).sent_at is None
        assert (record(given_up).state, record(given_up).last_error) == (
            DeliveryState.GIVEN_UP,
            "550 no such user",
        )
        assert (record(unclaimed).state, record(unclaimed).sent_at) == (DeliveryState.PENDING, None)
        again = ledger.claim_due(now=due_at, limit=10, token=a_token())
        assert sorted(r.notification_id for r in again) == sorted([retried[0], unclaimed[0]])
        assert record(retried).attempts == 2

    def test_hundreds_are_recorded_and_settled_in_one_call_each(
        self, ledger: NotificationLedger
    ) -> None:
        items = [a_notification() for _ in range(300)]
        assert ledger.record(items, now=T0) == 300

        claimed = ledger.claim_due(now=T0, limit=300, token=a_token())
        ledger.settle(
            [Outcome.sent(r.notification_id, at=T0 + timedelta(seconds=1)) for r in claimed]
        )

        assert len(claimed) == 300
        assert ledger.pending_count() == 0
        assert all(
            (r := ledger.get(notification_id)) is not None and r.state is DeliveryState.SENT
            for notification_id, _ in items
        )

    def test_a_released_claim_is_pending_again_and_claimable(
        self, ledger: NotificationLedger
    ) -> None:
        first, second = a_notification(), a_notification()
        ledger.record([first], now=T0)
        ledger.record([second], now=T0 + timedelta(seconds=1))
        lost = a_token()
        ledger.claim_due(now=T0 + timedelta(seconds=2), limit=10, token=lost)  # answer lost

        assert ledger.release_claim(lost) == sorted([first[0], second[0]])

        for notification_id in (first[0], second[0]):
            record = state_of(ledger, notification_id)
            # No attempt was made: not counted, and due as it was.
            assert (record.state, record.attempts) == (DeliveryState.PENDING, 0)
            assert (record.claimed_at, record.claimed_by) == (None, None)
        assert state_of(ledger, first[0]).next_attempt_at == T0
        assert ledger.pending_count() == 2
        token = a_token()
        again = ledger.claim_due(now=T0 + timedelta(seconds=3), limit=10, token=token)
        assert [r.notification_id for r in again] == [first[0], second[0]]
        assert all(r.attempts == 1 and r.claimed_by == token for r in again)

    def test_a_release_counts_out_only_the_claim_s_attempt(
        self, ledger: NotificationLedger
    ) -> None:
        item = a_notification()
        ledger.record([item], now=T0)
        ledger.claim_due(now=T0, limit=1, token=a_token())
        ledger.retry_at(item[0], at=T0 + timedelta(seconds=2), error="421 try later")
        lost = a_token()
        ledger.claim_due(now=T0 + timedelta(seconds=2), limit=1, token=lost)

        assert ledger.release_claim(lost) == [item[0]]

        record = state_of(ledger, item[0])
        assert (record.state, record.attempts) == (DeliveryState.PENDING, 1)
        assert (record.next_attempt_at, record.last_error) == (
            T0 + timedelta(seconds=2),
            "421 try later",
        )

    def test_a_release_leaves_other_claims_and_settled_records_alone(
        self, ledger: NotificationLedger
    ) -> None:
        sent, abandoned, theirs, lost_one = (a_notification() for _ in range(4))
        ledger.record([sent], now=T0)
        ledger.record([abandoned], now=T0 + timedelta(seconds=1))
        ledger.record([theirs], now=T0 + timedelta(seconds=2))
        ledger.record([lost_one], now=T0 + timedelta(seconds=3))
        lost = a_token()
        # The lost claim took two; one of them was settled (not by this
        # dispatcher's release: say an operator), the other abandoned by
        # another dispatcher after the lease.
        ledger.claim_due(now=T0 + timedelta(seconds=1), limit=2, token=lost)
        ledger.mark_sent(sent[0], at=T0 + timedelta(seconds=5))
        ledger.abandon_claims(claimed_before=T0 + timedelta(seconds=2))
        other = a_token()
        ledger.claim_due(now=T0 + timedelta(seconds=2), limit=1, token=other)
        ledger.claim_due(now=T0 + timedelta(seconds=3), limit=1, token=lost)

        assert ledger.release_claim(lost) == [lost_one[0]]

        assert state_of(ledger, sent[0]).state is DeliveryState.SENT
        assert state_of(ledger, abandoned[0]).state is DeliveryState.UNKNOWN
        kept = state_of(ledger, theirs[0])
        assert (kept.state, kept.attempts, kept.claimed_by) == (DeliveryState.SENDING, 1, other)
        assert state_of(ledger, lost_one[0]).state is DeliveryState.PENDING
        assert ledger.release_claim(a_token()) == []

    def test_releasing_a_claim_again_changes_nothing(self, ledger: NotificationLedger) -> None:
        item = a_notification()
        ledger.record([item], now=T0)
        lost = a_token()
        ledger.claim_due(now=T0, limit=1, token=lost)

        assert ledger.release_claim(lost) == [item[0]]
        assert ledger.release_claim(lost) == []  # its first answer lost: made again

        record = state_of(ledger, item[0])
        assert (record.state, record.attempts) == (DeliveryState.PENDING, 0)
        # Claimed again under a new token: the old one releases nothing.
        ledger.claim_due(now=T0, limit=1, token=a_token())
        assert ledger.release_claim(lost) == []
        assert state_of(ledger, item[0]).state is DeliveryState.SENDING
