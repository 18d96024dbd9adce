"""Handwritten fakes that subclass the ports and inject faults."""

from __future__ import annotations

import threading

from orderflow.adapters.delegating import DelegatingUnitOfWork
from orderflow.domain.errors import CacheUnavailable, StorageUnavailable
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


class FlakyUnitOfWorkFactory(UnitOfWorkFactory):
    """Wraps a real factory; the next `failures` units of work fail to open,
    as they do when the database is unreachable."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.failures = 0
        self.calls = 0

    @property
    def batch_limit(self) -> int:
        return self._inner.batch_limit

    def __call__(self) -> UnitOfWork:
        with self._lock:
            self.calls += 1
            if self.failures > 0:
                self.failures -= 1
                raise StorageUnavailable("database unreachable (injected)")
        return self._inner()


class LostAckUnitOfWorkFactory(UnitOfWorkFactory):
    """Wraps a real factory; while `armed`, every commit lands and then raises
    StorageUnavailable, as when the connection dies before the database's
    acknowledgement reaches the client: the outcome is unknown to the caller."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self.armed = False

    @property
    def batch_limit(self) -> int:
        return self._inner.batch_limit

    def __call__(self) -> UnitOfWork:
        return _LostAckUnitOfWork(self._inner(), self)


class _LostAckUnitOfWork(DelegatingUnitOfWork):
    def __init__(self, inner: UnitOfWork, factory: LostAckUnitOfWorkFactory) -> None:
        super().__init__(inner)
        self._factory = factory

    def commit(self) -> None:
        self._inner.commit()
        if self._factory.armed:
            raise StorageUnavailable("connection lost before the commit was acknowledged")


class FailingCommitUnitOfWorkFactory(UnitOfWorkFactory):
    """Wraps a real factory; the next `failures` commits fail without landing
    (the database went away mid-transaction): everything staged is lost."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self.failures = 0

    @property
    def batch_limit(self) -> int:
        return self._inner.batch_limit

    def __call__(self) -> UnitOfWork:
        return _FailingCommitUnitOfWork(self._inner(), self)


class _FailingCommitUnitOfWork(DelegatingUnitOfWork):
    def __init__(self, inner: UnitOfWork, factory: FailingCommitUnitOfWorkFactory) -> None:
        super().__init__(inner)
        self._failing = factory

    def commit(self) -> None:
        if self._failing.failures > 0:
            self._failing.failures -= 1
            raise StorageUnavailable("connection lost during the commit (injected)")
        self._inner.commit()


class SwitchableCache(OrderCache):
    """Wraps a real cache; while `down`, every call raises CacheUnavailable
    (the cache server went away; what it holds stays as it was)."""

    def __init__(self, inner: OrderCache) -> None:
        self.inner = inner
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise CacheUnavailable("cache unreachable (injected)")

    def get(self, order_id: str) -> Order | None:
        self._check()
        return self.inner.get(order_id)

    def put(self, order: Order) -> bool:
        self._check()
        return self.inner.put(order)

    def delete(self, order_id: str) -> None:
        self._check()
        self.inner.delete(order_id)
