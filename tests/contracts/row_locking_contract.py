"""Row locking, for the adapters that lock one row (or document) at a time.

Memory and SQLite serialise whole transactions, so a second locker there
waits at the start of its unit of work, not at `get_for_update`: this suite
applies only to the server adapters (MariaDB, PostgreSQL, MongoDB leases):
locked rows make a second locker wait, and a second relay skip them.
Mix RowLockingContract into a test class that provides `uow_factory`."""

from __future__ import annotations

import threading
import time

from orderflow.domain.model import OrderStatus
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.persistence_contract import T0, a_message, an_order


class RowLockingContract:
    def test_concurrent_relays_claim_disjoint_batches_without_waiting(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.outbox.add([a_message(n) for n in range(4)])
            uow.commit()

        with uow_factory() as first_relay:
            first = first_relay.outbox.claim_batch(limit=2)
            started = time.monotonic()
            with uow_factory() as second_relay:
                second = second_relay.outbox.claim_batch(limit=10)
            assert time.monotonic() - started < 2  # skipped the locked rows, did not wait
        assert [m.key for m in first] == ["order-0", "order-1"]
        assert [m.key for m in second] == ["order-2", "order-3"]

    def test_a_locked_order_makes_a_second_locker_wait_for_the_commit(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()

        seen: list[OrderStatus] = []

        def second_locker() -> None:
            with uow_factory() as uow:
                loaded = uow.orders.get_for_update(order.id)
                assert loaded is not None
                seen.append(loaded.status)

        waiter = threading.Thread(target=second_locker)
        with uow_factory() as holder:
            loaded = holder.orders.get_for_update(order.id)
            assert loaded is not None
            waiter.start()
            waiter.join(timeout=0.5)
            assert waiter.is_alive(), "the second get_for_update did not wait for the lock"
            with uow_factory() as reader:  # a plain read does not wait
                unlocked = reader.orders.get(order.id)
                assert unlocked is not None and unlocked.status is OrderStatus.PENDING
            loaded.start_processing(T0)
            holder.orders.save(loaded)
            holder.commit()
        waiter.join(timeout=10)
        assert seen == [OrderStatus.PROCESSING]
