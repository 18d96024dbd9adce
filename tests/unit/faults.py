"""Handwritten fakes that subclass the ports and inject faults."""

from __future__ import annotations

import threading

from orderflow.domain.errors import StorageUnavailable
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


class FlakyUnitOfWorkFactory(UnitOfWorkFactory):
    """Wraps a real factory; the next `failures` units of work fail to open,
    as they do when the database is unreachable."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.failures = 0
        self.calls = 0

    def __call__(self) -> UnitOfWork:
        with self._lock:
            self.calls += 1
            if self.failures > 0:
                self.failures -= 1
                raise StorageUnavailable("database unreachable (injected)")
        return self._inner()
