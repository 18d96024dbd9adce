"""Assembles the background loops from an Orderflow instance, and runs the
embedded mode's relay and workers as threads beside the API."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Protocol

from orderflow.bootstrap import Orderflow
from orderflow.entrypoints.notifications import NotificationLoop
from orderflow.entrypoints.relay import Housekeeping, RelayLoop
from orderflow.entrypoints.worker import RetryPolicy, Worker

log = logging.getLogger(__name__)


class Loop(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


def build_worker(
    app: Orderflow, *, poll_timeout_s: float = 0.5, max_batch_s: float = 4.0
) -> Worker:
    settings = app.settings
    return Worker(
        consumer=app.new_consumer(),
        processor=app.processor,
        clock=app.container.clock(),
        metrics=app.metrics,
        topics=app.topics,
        retry=RetryPolicy(
            attempts=settings.max_attempts,
            initial_backoff_s=settings.retry_backoff_ms / 1000.0,
        ),
        batch_size=settings.worker_batch_size,
        poll_timeout_s=poll_timeout_s,
        max_batch_s=max_batch_s,
    )


def build_relay_loop(app: Orderflow) -> RelayLoop:
    settings = app.settings
    return RelayLoop(
        relay=app.relay,
        sweeper=app.sweeper,
        uow_factory=app.uow_factory,
        clock=app.container.clock(),
        housekeeping=Housekeeping(
            stuck_after=timedelta(seconds=settings.stuck_after_s),
            sweep_every_s=settings.sweep_interval_s or max(1.0, settings.stuck_after_s / 4),
            outbox_retention=timedelta(hours=settings.outbox_retention_h),
            idempotency_retention=timedelta(hours=settings.idempotency_retention_h),
            purge_every_s=settings.purge_interval_s,
        ),
        idle_wait_s=settings.relay_interval_ms / 1000.0,
    )


def build_notification_loop(app: Orderflow) -> NotificationLoop:
    return NotificationLoop(dispatcher=app.notification_dispatcher)


class BackgroundRuntime:
    """The relay and `workers` worker threads, started and stopped together."""

    def __init__(self, app: Orderflow, *, workers: int = 1, relay: bool = True) -> None:
        self._app = app
        self.relay = build_relay_loop(app) if relay else None
        self.notifications = build_notification_loop(app) if relay else None
        self.workers = [build_worker(app) for _ in range(workers)]
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
