"""The outbox doorbell within one process (the embedded mode: the API, the
worker and the relay are threads of `orderflow serve`)."""

from __future__ import annotations

import threading

from orderflow.ports.outbox_signal import OutboxSignal


class MemoryOutboxSignal(OutboxSignal):
    def __init__(self) -> None:
        self._rung = threading.Event()

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout_s: float) -> bool:
        rung = self._rung.wait(timeout_s)
        self._rung.clear()
        return rung
