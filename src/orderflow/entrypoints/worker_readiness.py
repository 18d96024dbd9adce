"""Readiness of a process's workers: after a grace period, a process whose
workers hold no partition of the orders topic is not ready, and says so in
its log. Such a worker consumes nothing: a consumer group stuck in a
rebalance, or more members than partitions (docs/OPERATIONS.md)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from orderflow.entrypoints.worker import Worker

log = logging.getLogger(__name__)


class NoPartitions(RuntimeError):
    """The workers of this process hold no partition."""


class PartitionReadiness:
    def __init__(self, workers: Callable[[], Sequence[Worker]], *, grace_s: float) -> None:
        self._workers = workers
        self._grace_s = grace_s
        self.started_at = time.monotonic()
        self._warned = threading.Event()

    def check(self) -> None:
        """Raises NoPartitions once the grace period is over and no worker
        holds a partition; logs a warning the first time."""
        if time.monotonic() - self.started_at < self._grace_s:
            return
        if any(worker.assigned for worker in self._workers()):
            self._warned.clear()
            return
        waited = time.monotonic() - self.started_at
        if not self._warned.is_set():
            self._warned.set()
            log.warning(
                "no partition assigned to this process's workers after %.0f s: they consume "
                "nothing (a stuck consumer-group rebalance, or more workers than partitions)",
                waited,
            )
        raise NoPartitions(f"no partition assigned after {waited:.0f} s")
