"""Customer emails reach a real SMTP server (aiosmtpd) exactly once: the
orders-topic message delivered twice, the worker crashing in the commit that
records the notification, the dispatcher crashing between the send and its
record, and the mail server down while the order completes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

import orderflow
from orderflow import Orderflow
from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWork
from orderflow.application.notifying import DeliveryPolicy, NotificationDispatcher
from orderflow.domain.model import OrderStatus, Product
from orderflow.ports.notifier import DeliveryState
from tests.integration.test_notifiers import Inbox, free_port
from tests.unit.conftest import place_command


class _Crash(BaseException):
    """Stands for the process dying at that point."""


def _raise(error: BaseException) -> None:
    raise error


def make_app(tmp_path: Path, smtp_port: int) -> Orderflow:
    app = orderflow.bootstrap(
        database_url=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        notify_url=f"smtp://127.0.0.1:{smtp_port}?from=shop@example.com",
        notify_backoff_s=0.3,
    )
    app.migrate()
    app.catalog.upsert_many([Product("laptop", "Laptop", "fast", Decimal("999.00"), 10)])
    return app


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app(tmp_path: Path, smtp_port: int) -> Iterator[Orderflow]:
    instance = make_app(tmp_path, smtp_port)
    yield instance
    instance.close()


def serve_smtp(port: int) -> tuple[Inbox, Controller]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return inbox, controller


def process_everything(app: Orderflow) -> None:
    worker = app.new_worker(poll_timeout_s=0.05)
    try:
        while app.relay.drain_once() + worker.run_once():
            pass
    finally:
        worker.close()


def test_an_email_arrives_once_through_duplicates_and_crashes(
    app: Orderflow, smtp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, controller = serve_smtp(smtp_port)
    try:
        order_id = str(app.placement.place(place_command(("laptop", 1))).order["id"])
        with app.uow_factory() as uow:
            placed_event = uow.outbox.claim_batch(limit=10)[0]
        app.relay.drain_once()
        app.publisher.publish([placed_event])  # the orders-topic message, twice

        # The worker dies in its commit: neither the status change nor the
        # notification staged with it (the ledger's table, on SQL) is kept.
        real_commit = SqlUnitOfWork.commit
        monkeypatch.setattr(SqlUnitOfWork, "commit", lambda self: _raise(_Crash()))
        worker = app.new_worker(poll_timeout_s=0.05)
        try:
            with pytest.raises(_Crash):
                worker.run_once()
        finally:
            worker.close()
        monkeypatch.setattr(SqlUnitOfWork, "commit", real_commit)
        assert app.queries.get(order_id).status is OrderStatus.PENDING
        assert app.notification_ledger.pending_count() == 0

        # Both deliveries come again: one notification, recorded by the
        # worker's transaction itself (no outbox row for the relay).
        worker = app.new_worker(poll_timeout_s=0.05)
        try:
            assert worker.run_once() == 2
        finally:
            worker.close()
        assert app.queries.get(order_id).status is OrderStatus.COMPLETED
        assert app.notification_ledger.pending_count() == 1
        with app.uow_factory() as uow:
            assert uow.outbox.pending_count() == 0
        assert app.relay.drain_once() == 0

        # The dispatcher dies between the SMTP send and recording it.
        real_settle = SqlNotificationLedger.settle
        monkeypatch.setattr(
            SqlNotificationLedger, "settle", lambda *a, **k: (_ for _ in ()).throw(_Crash())
        )
        with pytest.raises(_Crash):
            app.notification_dispatcher.dispatch_once()
        monkeypatch.setattr(SqlNotificationLedger, "settle", real_settle)
        assert len(inbox.messages) == 1

        # A restarted dispatcher, and one after the claim's lease: no resend.
        assert app.notification_dispatcher.dispatch_once() == 0
        impatient = NotificationDispatcher(
            ledger=app.notification_ledger,
            notifier=app.notifier,
            clock=app.container.clock(),
            metrics=app.metrics,
            policy=DeliveryPolicy(claim_lease=DeliveryPolicy().claim_lease * 0),
        )
        assert impatient.dispatch_once() == 0
        process_everything(app)
        app.notification_dispatcher.dispatch_once()
    finally:
        controller.stop()

    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["Message-ID"] == f"<{order_id}.completed@example.com>"
    assert mail["To"] == "ada@example.com"
    assert order_id in mail["Subject"]
    (record_id,) = [
        r.notification_id
        for r in [app.notification_ledger.get(i) for i in _ids(app)]
        if r is not None
    ]
    record = app.notification_ledger.get(record_id)
    assert record is not None and record.state is DeliveryState.UNKNOWN


def _ids(app: Orderflow) -> list[str]:
    ledger = app.notification_ledger
    assert isinstance(ledger, SqlNotificationLedger)
    from sqlalchemy import select

    from orderflow.adapters.sqlalchemy.tables import notifications

    with app.uow_factory.engine.connect() as connection:  # type: ignore[attr-defined]
        return list(connection.execute(select(notifications.c.id)).scalars())


def test_with_the_mail_server_down_the_order_completes_and_the_email_follows_once(
    app: Orderflow, smtp_port: int
) -> None:
    order_id = str(app.placement.place(place_command(("laptop", 2))).order["id"])
    process_everything(app)
    assert app.queries.get(order_id).status is OrderStatus.COMPLETED  # not held up

    assert app.notification_dispatcher.dispatch_once() == 1  # refused: retry later
    assert app.notification_dispatcher.dispatch_once() == 0  # backing off
    (record_id,) = _ids(app)
    record = app.notification_ledger.get(record_id)
    assert record is not None
    assert (record.state, record.attempts) == (DeliveryState.PENDING, 1)
    assert record.last_error and "SMTP" in record.last_error

    inbox, controller = serve_smtp(smtp_port)
    try:
        deadline = time.monotonic() + 10
        while not inbox.messages:
            assert time.monotonic() < deadline, "the email never arrived"
            app.notification_dispatcher.dispatch_once()
            time.sleep(0.05)
        for _ in range(3):
            app.notification_dispatcher.dispatch_once()
    finally:
        controller.stop()

    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Message-ID"] == f"<{order_id}.completed@example.com>"
    record = app.notification_ledger.get(record_id)
    assert record is not None and (record.state, record.attempts) == (DeliveryState.SENT, 2)
