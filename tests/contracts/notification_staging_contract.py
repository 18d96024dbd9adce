"""The contract of staging customer notifications in a unit of work
(`UnitOfWork.notifications`, domain/services/notifications.py
`stage_notifications`): a notification reaches the ledger if and only if the
unit of work that staged it commits, once per id, whether the adapter writes
the ledger in its own transaction (SQL) or through the outbox and the relay
(memory, MongoDB).

Subclass it in a test_*.py module with `uow_factory` and `ledger` fixtures
over the same EMPTY store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.adapters.memory.broker import MemoryBroker, MemoryPublisher
from orderflow.adapters.outbox_notifications import OutboxNotificationRecorder
from orderflow.application.notifications import stage_notifications
from orderflow.application.relaying import OutboxRelay
from orderflow.domain.errors import DuplicateKey
from orderflow.ports.clock import Clock
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    notification_id,
)
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.notification_ledger_contract import a_token
from tests.contracts.persistence_contract import an_order

T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)


class _FixedClock(Clock):
    def now(self) -> datetime:
        return T0


def a_notice(
    order_id: str | None = None, status: str = "completed", *, traced: bool = False
) -> Notification:
    return Notification(
        order_id or str(uuid.uuid4()),
        status,
        "ada@example.com",
        "Confirmed ✓",
        "Hello\nAda",
        trace_headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
        if traced
        else {},
    )


class NotificationStagingContract:
    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("subclasses provide the adapter under test")

    @pytest.fixture
    def ledger(self) -> NotificationLedger:
        raise NotImplementedError("subclasses provide the ledger over the same store")

    def _relay(self, uow_factory: UnitOfWorkFactory, ledger: NotificationLedger) -> None:
        """What the relay does with whatever the outbox holds, until it is empty."""
        relay = OutboxRelay(
            uow_factory=uow_factory,
            publisher=MemoryPublisher(MemoryBroker()),
            ledger=ledger,
            clock=_FixedClock(),
        )
        while relay.drain_once():
            pass

    def test_a_committed_notification_is_recorded_once_pending_and_due(
        self, uow_factory: UnitOfWorkFactory, ledger: NotificationLedger
    ) -> None:
        order = an_order()
        notice = a_notice(order.id, traced=True)
        with uow_factory() as uow:
            uow.orders.add(order)
            stage_notifications(uow, [notice, notice], now=T0)
            uow.commit()
        self._relay(uow_factory, ledger)

        record = ledger.get(notification_id(notice))
        assert record is not None
        assert record.notification == notice
        assert (record.state, record.attempts, record.next_attempt_at) == (
            DeliveryState.PENDING,
            0,
            T0,
        )
        assert ledger.pending_count() == 1

    def test_where_the_unit_of_work_reaches_the_ledger_the_commit_records_it(
        self, uow_factory: UnitOfWorkFactory, ledger: NotificationLedger
    ) -> None:
        notice = a_notice()
        with uow_factory() as uow:
            in_transaction = not isinstance(uow.notifications, OutboxNotificationRecorder)
            stage_notifications(uow, [notice], now=T0)
            uow.commit()
        with uow_factory() as uow:
            outbox_rows = uow.outbox.pending_count()
        # Either in the ledger at commit, with no outbox row for the relay,
        # or in the outbox for the relay to record: never both, never neither.
        recorded = ledger.get(notification_id(notice)) is not None
        assert (recorded, outbox_rows) == ((True, 0) if in_transaction else (False, 1))

    def test_a_notification_staged_without_commit_is_never_recorded(
        self, uow_factory: UnitOfWorkFactory, ledger: NotificationLedger
    ) -> None:
        order = an_order()
        notice = a_notice(order.id)
        with uow_factory() as uow:
            uow.orders.add(order)
            stage_notifications(uow, [notice], now=T0)
            # left without commit: the worker died before it
        with uow_factory() as uow:
            uow.orders.add(an_order())
            stage_notifications(uow, [a_notice()], now=T0)
            uow.rollback()
            uow.commit()  # commits nothing: the rollback discarded the staging
        self._relay(uow_factory, ledger)

        assert ledger.get(notification_id(notice)) is None
        assert ledger.pending_count() == 0
        with uow_factory() as uow:
            assert uow.orders.get(order.id) is None

    def test_staging_a_recorded_id_again_changes_nothing(
        self, uow_factory: UnitOfWorkFactory, ledger: NotificationLedger
    ) -> None:
        notice = a_notice()
        with uow_factory() as uow:
            stage_notifications(uow, [notice], now=T0)
            uow.commit()
        self._relay(uow_factory, ledger)
        claimed = ledger.claim_due(now=T0, limit=10, token=a_token())
        assert [r.notification_id for r in claimed] == [notification_id(notice)]
        ledger.mark_sent(notification_id(notice), at=T0)

        # Staged again, even with other content: the ledger skips the id, or
        # (outbox path) the outbox refuses the id it still holds.
        later = T0 + timedelta(hours=1)
        with uow_factory() as uow:
            try:
                stage_notifications(uow, [replace(notice, body="again")], now=later)
                uow.commit()
            except DuplicateKey:
                assert isinstance(uow.notifications, OutboxNotificationRecorder), (
                    "the ledger skips a stored id"
                )
        self._relay(uow_factory, ledger)

        record = ledger.get(notification_id(notice))
        assert record is not None
        assert (record.state, record.notification.body) == (DeliveryState.SENT, notice.body)
        assert ledger.claim_due(now=later + timedelta(days=1), limit=10, token=a_token()) == []

    def test_each_status_of_an_order_is_its_own_notification(
        self, uow_factory: UnitOfWorkFactory, ledger: NotificationLedger
    ) -> None:
        order_id = str(uuid.uuid4())
        notices = [a_notice(order_id, "completed"), a_notice(order_id, "cancelled")]
        with uow_factory() as uow:
            stage_notifications(uow, notices, now=T0)
            stage_notifications(uow, [], now=T0)
            uow.commit()
        self._relay(uow_factory, ledger)

        for notice in notices:
            record = ledger.get(notification_id(notice))
            assert record is not None and record.notification == notice
        assert ledger.pending_count() == 2
