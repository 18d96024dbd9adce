"""The relay and notification loops gather a trickle into batches: after a
batch smaller than their batch size they wait before claiming again (a
claim, a broker transaction and a commit then carry several rows rather
than one), and after a full batch, a backlog, they claim again at once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import cast

from orderflow.adapters.memory.outbox_signal import MemoryOutboxSignal
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.adapters.system_clock import SystemClock
from orderflow.application import OutboxRelay, StuckOrderSweeper
from orderflow.application.notifying import NotificationDispatcher
from orderflow.entrypoints.notifications import NotificationLoop
from orderflow.entrypoints.relay import Housekeeping, RelayLoop

BATCH = 50
RUN_S = 0.6


class _ScriptedDrain:
    """Answers every drain or dispatch with the same count, and counts the calls."""

    def __init__(self, published: int) -> None:
        self.batch_size = BATCH
        self.calls = 0
        self._published = published

    def drain_once(self) -> int:
        self.calls += 1
        return self._published

    def dispatch_once(self) -> int:
        return self.drain_once()


def _run_for(loop: RelayLoop | NotificationLoop, seconds: float) -> None:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    time.sleep(seconds)
    loop.stop()
    thread.join(5)
    assert not thread.is_alive()


def _relay_loop(drain: _ScriptedDrain, *, gather_s: float) -> RelayLoop:
    factory = MemoryUnitOfWorkFactory()
    return RelayLoop(
        relay=cast(OutboxRelay, drain),
        sweeper=cast(StuckOrderSweeper, None),
        uow_factory=factory,
        clock=SystemClock(),
        housekeeping=Housekeeping(
            stuck_after=timedelta(hours=1),
            sweep_every_s=3600,
            outbox_retention=timedelta(days=1),
            idempotency_retention=timedelta(days=1),
            purge_every_s=3600,
        ),
        signal=MemoryOutboxSignal(),
        idle_wait_s=0.05,
        gather_s=gather_s,
    )


def test_the_relay_waits_after_a_part_batch() -> None:
    drain = _ScriptedDrain(published=3)
    _run_for(_relay_loop(drain, gather_s=0.2), RUN_S)
    # One drain per gathering wait: about three, never a busy loop.
    assert 1 <= drain.calls <= 6


def test_the_relay_drains_a_backlog_without_waiting() -> None:
    drain = _ScriptedDrain(published=BATCH)
    _run_for(_relay_loop(drain, gather_s=0.2), RUN_S)
    assert drain.calls > 30


def test_the_notification_loop_waits_after_a_part_batch_not_after_a_full_one() -> None:
    part = _ScriptedDrain(published=3)
    _run_for(
        NotificationLoop(dispatcher=cast(NotificationDispatcher, part), idle_wait_s=0.2), RUN_S
    )
    full = _ScriptedDrain(published=BATCH)
    _run_for(
        NotificationLoop(dispatcher=cast(NotificationDispatcher, full), idle_wait_s=0.2), RUN_S
    )
    assert 1 <= part.calls <= 6
    assert full.calls > 30
