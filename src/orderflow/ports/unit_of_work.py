"""The unit of work: one database transaction around repositories and the outbox."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

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
    #: The notification ledger as this transaction writes it: straight into
    #: the ledger's table where the adapter keeps both in one database (SQL),
    #: else into the outbox, from which the relay records them
    #: (adapters/outbox_notifications.py). Either way atomic with the rest.
    notifications: NotificationRecorder

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


class UnitOfWorkFactory(ABC):
    @property
    @abstractmethod
    def batch_limit(self) -> int:
        """How many orders one unit of work may place or process together
        (intake's group commit, the worker's batches): 1 where an adapter
        can make only one order's writes atomic, or ties its locks to one
        order (MongoDB)."""

    @abstractmethod
    def __call__(self) -> UnitOfWork:
        """A fresh unit of work (one transaction)."""

    def reading(self) -> UnitOfWork:
        """A fresh unit of work for a caller that only reads: it sees what
        was committed and must not write. A store whose writers take one
        lock (SQLite) opens it without that lock, so reads never wait for
        writers nor delay them; elsewhere it is an ordinary unit of work."""
        return self()

    def ping(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise StorageUnavailable if the database does not answer."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release pooled connections."""
