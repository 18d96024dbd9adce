"""The embedded mode's relay, dispatcher and workers, run as supervised
threads beside the API (the loops themselves come from the container):
a loop that dies is restarted with backoff (entrypoints/supervision.py),
and /ready names it while it is down, as it names workers holding no
partition after the grace period."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from orderflow.bootstrap import Orderflow
from orderflow.entrypoints.relay import RelayLoop
from orderflow.entrypoints.supervision import Loop, RestartPolicy, Supervised, Supervisor
from orderflow.entrypoints.worker import Worker
from orderflow.entrypoints.worker_readiness import PartitionReadiness

log = logging.getLogger(__name__)

__all__ = ["BackgroundRuntime", "Loop"]


class BackgroundRuntime:
    """The relay, the notification dispatcher and `workers` worker threads,
    supervised, started and stopped together."""

    def __init__(self, app: Orderflow, *, workers: int = 1, relay: bool = True) -> None:
        self._app = app
        settings = app.settings
        self.supervisor = Supervisor(
            app.metrics,
            RestartPolicy(
                initial_backoff_s=settings.loop_restart_backoff_s,
                max_backoff_s=settings.loop_restart_max_backoff_s,
            ),
        )
        self._relay: Supervised | None = None
        if relay:
            self._relay = self.supervisor.add("relay", "relay", app.new_relay_loop)
            self.supervisor.add("notifications", "notifications", app.new_notification_loop)
        self._workers = [
            self.supervisor.add(f"worker-{index}", "worker", app.new_worker)
            for index in range(workers)
        ]
        self.partitions = PartitionReadiness(
            self.current_workers, grace_s=settings.worker_assignment_grace_s
        )

    @property
    def relay(self) -> RelayLoop | None:
        """The relay loop running now (a new one after each restart)."""
        loop = self._relay.loop if self._relay else None
        assert loop is None or isinstance(loop, RelayLoop)
        return loop

    def current_workers(self) -> list[Worker]:
        workers = [supervised.loop for supervised in self._workers]
        assert all(isinstance(worker, Worker) for worker in workers)
        return workers  # type: ignore[return-value]

    def readiness_checks(self) -> dict[str, Callable[[], None]]:
        """One check per loop (`loop:relay`, `loop:worker-0`, ...) and the
        workers' partition assignment, for /ready."""
        checks: dict[str, Callable[[], None]] = {
            f"loop:{supervised.name}": supervised.check for supervised in self.supervisor.loops
        }
        if self._workers:
            checks["partitions"] = self.partitions.check
        return checks

    def start(self, *, redrive_unfinished: bool = False) -> None:
        if redrive_unfinished:
            # The in-process broker forgets everything on exit, so on start
            # every unfinished order is re-driven from the durable database.
            count = self._app.sweeper.sweep(older_than=timedelta(0), limit=1_000_000)
            if count:
                log.info("re-driving %d unfinished orders from the database", count)
        self.partitions.started_at = time.monotonic()
        for name, check in self.readiness_checks().items():
            self._app.add_readiness_check(name, check)
        self.supervisor.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.supervisor.stop(timeout_s)
