"""The embedded mode's relay, dispatcher and workers, run as threads beside
the API (the loops themselves come from the container)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Protocol

from orderflow.bootstrap import Orderflow

log = logging.getLogger(__name__)


class Loop(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


class BackgroundRuntime:
    """The relay and `workers` worker threads, started and stopped together."""

    def __init__(self, app: Orderflow, *, workers: int = 1, relay: bool = True) -> None:
        self._app = app
        self.relay = app.new_relay_loop() if relay else None
        self.notifications = app.new_notification_loop() if relay else None
        self.workers = [app.new_worker() for _ in range(workers)]
        self._threads: list[threading.Thread] = []

    def start(self, *, redrive_unfinished: bool = False) -> None:
        if redrive_unfinished:
            # The in-process broker forgets everything on exit, so on start
            # every unfinished order is re-driven from the durable database.
            count = self._app.sweeper.sweep(older_than=timedelta(0), limit=1_000_000)
            if count:
                log.info("re-driving %d unfinished orders from the database", count)
        loops: list[Loop] = [
            *([self.relay] if self.relay else []),
            *([self.notifications] if self.notifications else []),
            *self.workers,
        ]
        for index, loop in enumerate(loops):
            thread = threading.Thread(target=loop.run, name=f"orderflow-bg-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.relay:
            self.relay.stop()
        if self.notifications:
            self.notifications.stop()
        for worker in self.workers:
            worker.stop()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
