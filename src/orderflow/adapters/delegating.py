"""A unit of work that passes everything to another: the base of decorators
(lock timing, and the tests' fault injection), which override only what
they change."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from orderflow.ports.unit_of_work import UnitOfWork


class DelegatingUnitOfWork(UnitOfWork):
    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    def __enter__(self) -> Self:
        self._inner.__enter__()
        self._bind()
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
        self._bind()

    def rollback(self) -> None:
        self._inner.rollback()
        self._bind()

    def _bind(self) -> None:
        """Take the inner unit of work's repositories, which adapters bind
        on entry and may bind anew after a commit or rollback."""
        inner = self._inner
        self.orders = inner.orders
        self.products = inner.products
        self.outbox = inner.outbox
        self.idempotency = inner.idempotency
        self.notifications = inner.notifications
