"""Stock-lock wait time: how long processing waits for the product rows it
locks (SELECT ... FOR UPDATE in sorted id order on SQL, holds on MongoDB).

A decorator of the unit of work rather than lines in the processor: every
call the processor makes to `products.get_many_for_update` is timed, however
the processing of orders is arranged (one per transaction or in batches),
and no other service pays for it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from orderflow.domain.model import Product
from orderflow.ports.metrics import Metrics
from orderflow.ports.unit_of_work import DelegatingUnitOfWork, UnitOfWork, UnitOfWorkFactory

LOCK_WAIT = "stock_lock_wait_seconds"


class _TimedProducts:
    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def get_many_for_update(self, product_ids: Sequence[str]) -> dict[str, Product]:
        started = time.perf_counter()
        try:
            products: dict[str, Product] = self._inner.get_many_for_update(product_ids)
            return products
        finally:
            self._metrics.observe(LOCK_WAIT, time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _TimedUnitOfWork(DelegatingUnitOfWork):
    def __init__(self, inner: UnitOfWork, metrics: Metrics) -> None:
        super().__init__(inner)
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        return _TimedProducts(value, self._metrics) if name == "products" else value


class LockTimingUnitOfWorkFactory(UnitOfWorkFactory):
    def __init__(self, inner: UnitOfWorkFactory, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        # Timing changes nothing of what a unit of work may hold.
        self.batch_limit = inner.batch_limit

    def __call__(self) -> UnitOfWork:
        return _TimedUnitOfWork(self._inner(), self._metrics)

    def ping(self) -> None:
        self._inner.ping()

    def close(self) -> None:
        self._inner.close()
