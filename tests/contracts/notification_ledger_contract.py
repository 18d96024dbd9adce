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
        ledger.claim_due(now=T0, limit=10)
        ledger.mark_sent(item[0], at=T0)

        assert ledger.record([item, item], now=T0 + timedelta(hours=1)) == 0

        record = ledger.get(item[0])
        assert record is not None and record.state is DeliveryState.SENT
        assert ledger.claim_due(now=T0 + timedelta(days=1), limit=10) == []

    def test_a_claim_takes_due_records_oldest_first_once(self, ledger: NotificationLedger) -> None:
        first, second, later = a_notification(), a_notification(), a_notification()
        ledger.record([second], now=T0 + timedelta(seconds=1))
        ledger.record([first], now=T0)
        ledger.record([later], now=T0 + timedelta(minutes=5))

        claimed = ledger.claim_due(now=T0 + timedelta(seconds=1), limit=10)

        assert [r.notification_id for r in claimed] == [first[0], second[0]]
        assert all(r.state is DeliveryState.SENDING and r.attempts == 1 for r in claimed)
        assert all(r.claimed_at == T0 + timedelta(seconds=1) for r in claimed)
        assert ledger.claim_due(now=T0 + timedelta(seconds=1), limit=10) == []
        assert ledger.pending_count() == 3

    def test_a_failed_send_is_due_again_later_and_counts_its_attempts(
        self, ledger: NotificationLedger
    ) -> None:
        item = a_notification()
        ledger.record([item], now=T0)
        ledger.claim_due(now=T0, limit=1)
        ledger.retry_at(item[0], at=T0 + timedelta(seconds=4), error="421 try later")

        assert ledger.claim_due(now=T0 + timedelta(seconds=3), limit=1) == []
        again = ledger.claim_due(now=T0 + timedelta(seconds=4), limit=1)
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
        ledger.claim_due(now=T0, limit=1)
        ledger.claim_due(now=T0 + timedelta(minutes=10), limit=1)

        assert ledger.abandon_claims(claimed_before=T0 + timedelta(minutes=5)) == [stale[0]]

        ledger.mark_sent(stale[0], at=T0 + timedelta(minutes=11))  # too late: stays unknown
        record = ledger.get(stale[0])
        assert record is not None and record.state is DeliveryState.UNKNOWN
        assert ledger.claim_due(now=T0 + timedelta(days=1), limit=10) == []
        assert ledger.abandon_claims(claimed_before=T0 + timedelta(minutes=5)) == []

    def test_concurrent_claims_never_hand_one_record_to_two_dispatchers(
        self, ledger: NotificationLedger
    ) -> None:
        ledger.record([a_notification() for _ in range(12)], now=T0)

        batches = run_together(4, lambda: ledger.claim_due(now=T0, limit=5))

        ids = [r.notification_id for batch in batches for r in batch]
        assert len(ids) == len(set(ids)) == 12

    def test_a_batch_is_recorded_at_once_counting_only_new_ids(
        self, ledger: NotificationLedger
    ) -> None:
        stored, first, second = a_notification(), a_notification(), a_notification()
        ledger.record([stored], now=T0)
        ledger.claim_due(now=T0, limit=10)

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
        ledger.claim_due(now=T0, limit=10)
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
        again = ledger.claim_due(now=due_at, limit=10)
        assert sorted(r.notification_id for r in again) == sorted([retried[0], unclaimed[0]])
        assert record(retried).attempts == 2

    def test_hundreds_are_recorded_and_settled_in_one_call_each(
        self, ledger: NotificationLedger
    ) -> None:
        items = [a_notification() for _ in range(300)]
        assert ledger.record(items, now=T0) == 300

        claimed = ledger.claim_due(now=T0, limit=300)
        ledger.settle(
            [Outcome.sent(r.notification_id, at=T0 + timedelta(seconds=1)) for r in claimed]
        )

        assert len(claimed) == 300
        assert ledger.pending_count() == 0
        assert all(
            (r := ledger.get(notification_id)) is not None and r.state is DeliveryState.SENT
            for notification_id, _ in items
        )
