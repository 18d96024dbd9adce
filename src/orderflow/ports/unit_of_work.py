"""The unit of work: one database transaction around repositories and the outbox."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from orderflow.ports.idempotency import IdempotencyStore
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
    @abstractmethod
    def __call__(self) -> UnitOfWork:
        """A fresh unit of work (one transaction)."""

    def ping(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise StorageUnavailable if the database does not answer."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release pooled connections."""
