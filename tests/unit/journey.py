"""Helpers that drive the in-memory pipeline by hand: relay, then worker."""

from __future__ import annotations

from collections.abc import Mapping

from dependency_injector import providers

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.application.processing import OrderProcessor
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import Order, Product
from orderflow.entrypoints.worker import Worker
from orderflow.ports.unit_of_work import UnitOfWorkFactory


def drain(app: Orderflow, worker: Worker | None = None) -> None:
    """Relay the outbox, run the worker and send the notifications until
    nothing is left to do."""
    own = worker is None
    worker = worker or app.new_worker(poll_timeout_s=0.01)
    try:
        while True:
            moved = app.relay.drain_once()
            handled = worker.run_once()
            sent = app.notification_dispatcher.dispatch_once()
            if not moved and not handled and not sent:
                return
    finally:
        if own:
            worker.close()


def app_over(factory: UnitOfWorkFactory, *products: Product) -> Orderflow:
    """An in-memory orderflow whose units of work come from `factory` (a
    fake wrapping the memory database), with `products` in its catalog."""
    instance = orderflow.bootstrap(
        database_url="memory://", notify_url="memory://", retry_backoff_ms=1
    )
    instance.container.uow_factory.override(providers.Object(factory))
    instance.catalog.upsert_many(list(products))
    return instance


def memory_broker(app: Orderflow) -> MemoryBroker:
    instance = app.container.memory_broker()
    assert isinstance(instance, MemoryBroker)
    return instance


def process(processor: OrderProcessor, order: Mapping[str, object]) -> Order | None:
    """What the worker does with the order's OrderPlaced event (a batch of
    one), from the order as placement answered it."""
    (result,) = processor.handle_many([OrderPlaced.of(Order.from_dict(dict(order)))])
    return result
