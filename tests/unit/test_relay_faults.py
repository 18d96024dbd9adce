"""The relay when the database fails after it has handed notifications to
the ledger but before it could mark their outbox rows: the rows come back
unpublished, the relay records them again (idempotent by id), and each
notification is still sent once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from dependency_injector import providers

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.model import Product
from tests.unit.conftest import place_command
from tests.unit.faults import FailingCommitUnitOfWorkFactory


@pytest.fixture
def failing() -> FailingCommitUnitOfWorkFactory:
    return FailingCommitUnitOfWorkFactory(MemoryUnitOfWorkFactory())


@pytest.fixture
def app(failing: FailingCommitUnitOfWorkFactory) -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url="memory://", notify_url="memory://")
    instance.container.uow_factory.override(providers.Object(failing))
    instance.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 5)])
    yield instance
    instance.close()


def test_a_lost_commit_after_sending_does_not_send_the_notification_again(
    app: Orderflow, failing: FailingCommitUnitOfWorkFactory
) -> None:
    ids = [str(app.placement.place(place_command(("mouse", 1))).order["id"]) for _ in range(2)]
    app.relay.drain_once()
    worker = app.new_worker(poll_timeout_s=0.01)
    try:
        assert worker.run_once() == 2
    finally:
        worker.close()

    failing.failures = 1  # the relay's commit after the sends
    with pytest.raises(StorageUnavailable):
        app.relay.drain_once()
    while app.relay.drain_once():
        pass
    while app.notification_dispatcher.dispatch_once():
        pass

    notifier = app.raw_notifier
    assert isinstance(notifier, RecordingNotifier)
    assert sorted(n.order_id for n in notifier.sent) == sorted(ids)
    with app.uow_factory() as uow:
        assert uow.outbox.pending_count() == 0
