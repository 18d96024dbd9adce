"""The in-process outbox doorbell against the contract, the decorator that
rings it on commit, and the relay that starts on the ring instead of at its
next poll."""

from __future__ import annotations

import threading
import time

import pytest

import orderflow
from orderflow.adapters.memory.outbox_signal import MemoryOutboxSignal
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.adapters.ringing_unit_of_work import RingingUnitOfWorkFactory
from orderflow.entrypoints.http.app import create_app
from orderflow.ports.outbox_signal import OutboxSignal
from tests.contracts.outbox_signal_contract import OutboxSignalContract
from tests.unit.http.support import CATALOG, valid_order


class _Unreachable(MemoryOutboxSignal):
    """A doorbell whose rings never arrive: what a lost ring looks like."""

    def ring(self) -> None:
        pass


class TestMemoryOutboxSignal(OutboxSignalContract):
    @pytest.fixture
    def signal(self) -> OutboxSignal:
        return MemoryOutboxSignal()

    @pytest.fixture
    def unreachable_signal(self) -> OutboxSignal:
        return _Unreachable()


def test_a_commit_rings_and_a_rollback_does_not() -> None:
    signal = MemoryOutboxSignal()
    factory = RingingUnitOfWorkFactory(MemoryUnitOfWorkFactory(), signal)

    with factory():
        pass  # rolled back
    assert signal.wait(0.01) is False

    with factory() as uow:
        uow.commit()
    assert signal.wait(0.01) is True
    assert factory.batch_limit == MemoryUnitOfWorkFactory().batch_limit


def test_the_relay_publishes_an_order_on_its_commit_not_at_its_next_poll() -> None:
    # A poll interval far longer than the wait below: only the ring can explain
    # the order reaching the broker in time.
    flow = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", relay_interval_ms=30_000
    )
    try:
        flow.catalog.upsert_many(CATALOG)
        consumer = flow.container.consumer()
        relay = flow.new_relay_loop()
        thread = threading.Thread(target=relay.run, daemon=True)
        thread.start()
        time.sleep(0.2)  # the relay has drained the empty outbox and waits

        response = create_app(flow).test_client().post("/api/orders", json=valid_order())
        assert response.status_code == 201
        order_id = response.get_json()["id"]
        started = time.monotonic()
        keys: list[str | None] = []
        while time.monotonic() - started < 5 and order_id not in keys:
            keys += [d.key for d in consumer.poll(max_messages=10, timeout_s=0.1)]
        elapsed = time.monotonic() - started
        relay.stop()
        thread.join(5)
        assert order_id in keys
        assert elapsed < 5
    finally:
        flow.close()
