"""The unit of work: one database transaction around repositories and the outbox."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

from orderflow.ports.idempotency import IdempotencyStore
from orderflow.ports.notifier import NotificationRecorder
from orderflow.ports.outbox import Outbox
from orderflow.ports.repositories import OrderRepository, ProductRepository


class UnitOfWork(ABC):
    """Use as a context manager. Nothing is kept unless `commit()` is called;
    leaving the block without it rolls back. Opening the transaction, any
    read or write, and commit raise StorageUnavailable when the database is
    unreachable."""

    orders: OrderRepository
    products: ProductRepository
    outbox: Outbox
    idempotency: IdempotencyStore
    #: The notification ledger inside this transaction, where the adapter
    #: keeps both in one database and can write them atomically (SQL). None
    #: where it cannot (memory, MongoDB): notifications then travel through
    #: the outbox and the relay records them
    #: (domain/services/notifications.py, `stage_notifications`).
    #: Annotated only, no default: a DelegatingUnitOfWork must look it up on
    #: its inner unit of work.
    notifications: NotificationRecorder | None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abstractmethod
    def commit(self) -> None:
        """Make every staged change durable, atomically."""

    @abstractmethod
    def rollback(self) -> None:
        """Discard staged changes. Safe to call after commit (then a no-op)."""


class DelegatingUnitOfWork(UnitOfWork):
    """Passes everything to `inner`: the base of decorators (timing, fault
    injection), which override only what they change."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()

    def __getattr__(self, name: str) -> Any:
        # The repositories, looked up on every use: an adapter binds them on
        # entry and may rebind them (the memory one does at commit).
        return getattr(self._inner, name)


class UnitOfWorkFactory(ABC):
    #: How many orders one unit of work may process together (the worker's
    #: batches). 1 where an adapter ties its locks to a single order.
    batch_limit: int = 1

    @abstractmethod
    def __call__(self) -> UnitOfWork:
        """A fresh unit of work (one transaction)."""

    def ping(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise StorageUnavailable if the database does not answer."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release pooled connections."""
