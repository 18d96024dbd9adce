"""A unit-of-work decorator that rings the outbox doorbell after each
commit, composed in the container for the services that write outbox rows
(placing, processing, cancelling): the relay starts on their commit instead
of at its next poll. The relay's own unit of work does not ring."""

from __future__ import annotations

from orderflow.adapters.delegating import DelegatingUnitOfWork, DelegatingUnitOfWorkFactory
from orderflow.ports.outbox_signal import OutboxSignal
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


class _RingingUnitOfWork(DelegatingUnitOfWork):
    def __init__(self, inner: UnitOfWork, signal: OutboxSignal) -> None:
        super().__init__(inner)
        self._signal = signal

    def commit(self) -> None:
        super().commit()
        self._signal.ring()


class RingingUnitOfWorkFactory(DelegatingUnitOfWorkFactory):
    def __init__(self, inner: UnitOfWorkFactory, signal: OutboxSignal) -> None:
        super().__init__(inner)
        self._signal = signal

    def __call__(self) -> UnitOfWork:
        return _RingingUnitOfWork(self._inner(), self._signal)
