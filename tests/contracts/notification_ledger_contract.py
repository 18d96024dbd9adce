"""The contract every NotificationLedger adapter keeps. Subclass it in a
test_*.py module with a `ledger` fixture over an EMPTY store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.ports.notifier import DeliveryState, Notification, NotificationLedger
from tests.contracts.persistence_contract import run_together

T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)


def a_notification(order_id: str | None = None) -> tuple[str, Notification]:
    order_id = order_id or str(uuid.uuid4())
    return (
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order_id}/completed")),
        Notification(order_id, "completed", "ada@example.com", "Confirmed ✓", "Hello\nAda"),
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
