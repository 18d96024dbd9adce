"""The relay loop: drains the outbox to the broker, re-drives stuck orders,
and purges old outbox and idempotency rows."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from orderflow.application import OutboxRelay, StuckOrderSweeper
from orderflow.domain.errors import InfrastructureError
from orderflow.ports.clock import Clock
from orderflow.ports.outbox_signal import OutboxSignal
from orderflow.ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Housekeeping:
    stuck_after: timedelta
    sweep_every_s: float
    outbox_retention: timedelta
    idempotency_retention: timedelta
    purge_every_s: float = 600.0


class RelayLoop:
    def __init__(
        self,
        *,
        relay: OutboxRelay,
        sweeper: StuckOrderSweeper,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        housekeeping: Housekeeping,
        signal: OutboxSignal,
        idle_wait_s: float = 0.05,
        gather_s: float = 0.01,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._relay = relay
        self._sweeper = sweeper
        self._uow_factory = uow_factory
        self._clock = clock
        self._housekeeping = housekeeping
        self._signal = signal
        self._idle_wait_s = idle_wait_s
        self._gather_s = gather_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self._signal.ring()  # ends the wait (another relay it wakes drains once)

    def run(self) -> None:
        backoff = self._idle_wait_s
        next_sweep = time.monotonic() + self._housekeeping.sweep_every_s
        next_purge = time.monotonic()
        while not self._stop.is_set():
            try:
                published = self._relay.drain_once()
                now = time.monotonic()
                if now >= next_sweep:
                    swept = self._sweeper.sweep(older_than=self._housekeeping.stuck_after)
                    if swept:
                        log.warning("re-drove %d stuck orders", swept)
                    next_sweep = now + self._housekeeping.sweep_every_s
                if now >= next_purge:
                    self.purge()
                    next_purge = now + self._housekeeping.purge_every_s
                backoff = self._idle_wait_s
            except InfrastructureError as exc:
                log.warning("relay: %s; retrying in %.2fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            if not published:
                # Until the next commit rings, or the interval passes (a ring
                # is a hint: one lost costs this wait, nothing more).
                self._signal.wait(self._idle_wait_s)
            elif published < self._relay.batch_size:
                # Less than a batch: under a steady stream of commits the
                # next claim waits a moment for more rows, so that a claim,
                # a broker transaction and a commit carry several orders
                # rather than one or two. A full batch is a backlog: no wait.
                self._stop.wait(self._gather_s)

    def purge(self) -> tuple[int, int]:
        now = self._clock.now()
        with self._uow_factory() as uow:
            outbox = uow.outbox.purge_published(
                older_than=now - self._housekeeping.outbox_retention
            )
            keys = uow.idempotency.purge(older_than=now - self._housekeeping.idempotency_retention)
            uow.commit()
        return outbox, keys
