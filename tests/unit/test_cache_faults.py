"""A cache that fails a write must not keep serving the older snapshot once
it is back: the worker cached `processing`, then the cache went away before
it could cache `completed`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orderflow import Orderflow
from orderflow.adapters.memory.cache import MemoryOrderCache
from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.resilient_cache import ResilientOrderCache
from orderflow.application import OrderProcessor
from orderflow.domain.model import Customer, Order, OrderLine, OrderStatus, PaymentMethod
from tests.unit.conftest import place_command
from tests.unit.faults import SwitchableCache
from tests.unit.journey import process

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(order: Order | None) -> dict[str, Any] | None:
    return None if order is None else order.to_dict()


def new_order() -> Order:
    return Order.place(
        order_id="6f1c2a34-0000-4000-8000-000000000001",
        customer=Customer("Ada", "ada@example.com", "12 Analytical St"),
        items=(OrderLine("mouse", 1, Decimal("10.00")),),
        payment_method=PaymentMethod.CARD,
        now=NOW,
    )


def cache_pair(repair_every_s: float = 3600) -> tuple[ResilientOrderCache, SwitchableCache]:
    switch = SwitchableCache(MemoryOrderCache(ttl_s=3600))
    return ResilientOrderCache(
        cache=switch, metrics=MemoryMetrics(), repair_every_s=repair_every_s
    ), switch


def test_a_failed_write_is_repaired_on_the_next_call_once_the_cache_is_back() -> None:
    cache, switch = cache_pair()
    order = new_order()
    order.start_processing(NOW)
    cache.put(order)
    switch.down = True
    order.complete(NOW)
    cache.put(order)  # fails: the cache still holds `processing`

    switch.down = False
    # This instance never serves the older snapshot, and repairs it first.
    assert snapshot(cache.get(order.id)) == order.to_dict()
    assert snapshot(switch.inner.get(order.id)) == order.to_dict()  # what other processes read


def test_the_repair_thread_writes_the_snapshot_without_further_calls() -> None:
    cache, switch = cache_pair(repair_every_s=0.05)
    order = new_order()
    order.start_processing(NOW)
    cache.put(order)
    switch.down = True
    order.complete(NOW)
    cache.put(order)
    time.sleep(0.2)  # still down: the thread keeps trying

    switch.down = False
    deadline = time.monotonic() + 5
    while snapshot(switch.inner.get(order.id)) != order.to_dict():
        assert time.monotonic() < deadline, "the repair thread did not write the snapshot"
        time.sleep(0.02)


def test_while_unwritten_this_instance_reads_through_to_the_database() -> None:
    cache, switch = cache_pair()
    order = new_order()
    cache.put(order)
    switch.down = True
    order.start_processing(NOW)
    cache.put(order)
    switch.down = False
    switch.inner.put(order)  # written meanwhile by another process: nothing is stale
    assert snapshot(cache.get(order.id)) == order.to_dict()


def test_an_older_failed_write_never_replaces_a_newer_one() -> None:
    cache, switch = cache_pair()
    order = new_order()
    older = Order.from_dict(order.to_dict())
    order.start_processing(NOW)
    cache.put(order)
    switch.down = True
    cache.put(older)  # a slow reader's older snapshot fails too
    switch.down = False
    assert cache.repair()
    assert snapshot(switch.inner.get(order.id)) == order.to_dict()


def test_a_redelivery_of_a_finished_order_writes_it_through_again(app: Orderflow) -> None:
    """The worker that finished the order died before its write-through (the
    cache still says processing); the redelivery finds the order finished and
    must write the finished snapshot, or the cache serves `processing` until
    its TTL."""
    switch = SwitchableCache(MemoryOrderCache(ttl_s=3600))
    placed = app.placement.place(place_command(("mouse", 1)))
    order_id = str(placed.order["id"])
    processing = Order.from_dict(placed.order)
    processing.start_processing(NOW)
    switch.inner.put(processing)  # the dead worker's T1 write-through
    dead = processor_over(app, switch)
    switch.down = True
    process(dead, placed.order)  # T2 committed, its write-through lost with the process
    switch.down = False
    stale = switch.inner.get(order_id)
    assert stale is not None and stale.status is OrderStatus.PROCESSING

    process(processor_over(app, switch), placed.order)  # the redelivery, another worker

    fresh = switch.inner.get(order_id)
    assert fresh is not None and fresh.status is OrderStatus.COMPLETED


def processor_over(app: Orderflow, cache: SwitchableCache) -> OrderProcessor:
    """A processor as another worker process has it: its own cache client."""
    metrics = MemoryMetrics()
    return OrderProcessor(
        uow_factory=app.uow_factory,
        clock=app.container.clock(),
        cache=ResilientOrderCache(cache, metrics=metrics, repair_every_s=3600),
        metrics=metrics,
        topics=app.topics,
    )


def test_a_write_older_than_the_ttl_is_no_longer_repaired() -> None:
    switch = SwitchableCache(MemoryOrderCache(ttl_s=3600))
    cache = ResilientOrderCache(
        cache=switch, metrics=MemoryMetrics(), repair_every_s=3600, give_up_after_s=0.0
    )
    order = new_order()
    switch.down = True
    cache.put(order)
    switch.down = False
    time.sleep(0.01)
    assert cache.repair()
    assert switch.inner.get(order.id) is None  # given up: the stale entry expired anyway
