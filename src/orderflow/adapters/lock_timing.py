"""Stock-lock wait time: how long processing waits for the product rows it
locks (SELECT ... FOR UPDATE in sorted id order on SQL, holds on MongoDB).

A decorator of the unit of work composed in the container for the
processor alone, rather than lines in the processor: every call to
`products.get_many_for_update` is timed, and no other service pays for it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

from orderflow.adapters.delegating import DelegatingUnitOfWork, DelegatingUnitOfWorkFactory
from orderflow.domain.model import Product
from orderflow.ports.metrics import STOCK_LOCK_WAIT_SECONDS, Metrics
from orderflow.ports.repositories import ProductPage, ProductRepository
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


class TimedProducts(ProductRepository):
    """Times get_many_for_update; everything else goes straight through."""

    def __init__(self, inner: ProductRepository, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def get_many_for_update(self, product_ids: Sequence[str]) -> dict[str, Product]:
        started = time.perf_counter()
        try:
            return self._inner.get_many_for_update(product_ids)
        finally:
            self._metrics.observe(STOCK_LOCK_WAIT_SECONDS, time.perf_counter() - started)

    def upsert(self, product: Product) -> None:
        self._inner.upsert(product)

    def get(self, product_id: str) -> Product | None:
        return self._inner.get(product_id)

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        return self._inner.get_many(product_ids)

    def prices(self, product_ids: Sequence[str]) -> dict[str, Decimal]:
        return self._inner.prices(product_ids)

    def get_by_name(self, name: str) -> Product | None:
        return self._inner.get_by_name(name)

    def save(self, product: Product) -> None:
        self._inner.save(product)

    def save_many(self, products: Sequence[Product]) -> None:
        self._inner.save_many(products)

    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        return self._inner.search(text=text, limit=limit, offset=offset)

    def count(self) -> int:
        return self._inner.count()


class _TimedUnitOfWork(DelegatingUnitOfWork):
    def __init__(self, inner: UnitOfWork, metrics: Metrics) -> None:
        super().__init__(inner)
        self._metrics = metrics

    def _bind(self) -> None:
        super()._bind()
        self.products = TimedProducts(self._inner.products, self._metrics)


class LockTimingUnitOfWorkFactory(DelegatingUnitOfWorkFactory):
    def __init__(self, inner: UnitOfWorkFactory, metrics: Metrics) -> None:
        super().__init__(inner)
        self._metrics = metrics

    def __call__(self) -> UnitOfWork:
        return _TimedUnitOfWork(self._inner(), self._metrics)
