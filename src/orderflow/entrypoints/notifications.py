"""The notification loop: runs the dispatcher beside the relay, in its own
thread, so a slow or dead mail server never holds back the outbox."""

from __future__ import annotations

import logging
import threading

from orderflow.application.notifying import NotificationDispatcher
from orderflow.domain.errors import InfrastructureError

log = logging.getLogger(__name__)


class NotificationLoop:
    def __init__(
        self,
        *,
        dispatcher: NotificationDispatcher,
        idle_wait_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._dispatcher = dispatcher
        self._idle_wait_s = idle_wait_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        backoff = self._idle_wait_s
        while not self._stop.is_set():
            try:
                settled = self._dispatcher.dispatch_once()
            except InfrastructureError as exc:  # the database: wait, then go on
                log.warning("notifications: %s; retrying in %.2fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            backoff = self._idle_wait_s
            if settled < self._dispatcher.batch_size:
                # Nothing due, or less than a batch: what comes next gathers
                # for the interval, so a steady trickle goes out in batches
                # (a claim and a settle each) rather than one by one. A full
                # batch means a backlog: the next one is claimed at once.
                self._stop.wait(self._idle_wait_s)
