"""A unit of work, and a factory of them, that pass everything to another:
the bases of decorators (lock timing, the outbox doorbell, the tests' fault
injection), which override only what they change."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


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


class DelegatingUnitOfWorkFactory(UnitOfWorkFactory):
    """Makes the inner factory's units of work; decorators override __call__."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner

    @property
    def batch_limit(self) -> int:
        return self._inner.batch_limit

    def __call__(self) -> UnitOfWork:
        return self._inner()

    def reading(self) -> UnitOfWork:
        # A unit of work that only reads commits nothing: nothing to decorate.
        return self._inner.reading()

    def ping(self) -> None:
        self._inner.ping()

    def close(self) -> None:
        self._inner.close()
