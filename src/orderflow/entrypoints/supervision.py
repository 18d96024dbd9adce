"""Supervision of the loops one process runs in threads (`orderflow serve`,
library use through BackgroundRuntime): a loop that dies is logged, counted
(orderflow_loop_restarts_total{loop}) and made again with exponential
backoff and jitter (tenacity), while /ready names it as down.

The standalone `orderflow worker` and `orderflow relay` processes do not
restart loops: they exit 1 and leave that to their supervisor (systemd,
Kubernetes), which also restarts a process whose memory a bug corrupted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from tenacity import RetryCallState, Retrying, stop_never, wait_exponential_jitter

from orderflow.ports.metrics import LOOP_RESTARTS, LOOPS_DOWN, Metrics

log = logging.getLogger(__name__)

LoopState = Literal["starting", "running", "restarting", "stopped"]


class Loop(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


class LoopReturned(RuntimeError):
    """A loop's run() returned although nobody asked it to stop."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0


class Supervised:
    """One loop, kept running in its own thread: `factory` makes it, and
    makes a new one after each death (a worker is a new group member)."""

    def __init__(
        self,
        name: str,
        kind: str,
        factory: Callable[[], Loop],
        *,
        metrics: Metrics,
        policy: RestartPolicy,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.kind = kind  # the metric's label: relay, notifications, worker
        self._factory = factory
        self._metrics = metrics
        self._policy = policy
        self._on_change = on_change
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.state: LoopState = "starting"
        self.restarts = 0
        self.loop: Loop = factory()
        self._fresh = True
        self._thread = threading.Thread(
            target=self._supervise, name=f"orderflow-{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self.loop.stop()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    @property
    def up(self) -> bool:
        return self.state == "running"

    def check(self) -> None:
        """For /ready: raises while the loop is dead or waiting to restart."""
        if self.state != "running":
            raise LoopDown(f"{self.name} is {self.state}")

    def _supervise(self) -> None:
        retrying = Retrying(
            stop=stop_never,
            wait=wait_exponential_jitter(
                multiplier=self._policy.initial_backoff_s,
                max=self._policy.max_backoff_s,
                jitter=self._policy.initial_backoff_s,
            ),
            before_sleep=self._died,
            sleep=self._sleep,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._run_once()
        finally:
            self._set_state("stopped")

    def _run_once(self) -> None:
        with self._lock:
            # Under the lock: a stop() either comes first and is seen here,
            # or comes after and stops the loop made here.
            if self._stopping.is_set():
                return
            if not self._fresh:
                self.loop = self._factory()
                self.restarts += 1
                self._metrics.increment(LOOP_RESTARTS, loop=self.kind)
                log.warning("restarting %s (restart %d)", self.name, self.restarts)
            self._fresh = False
        self._set_state("running")
        self.loop.run()
        if not self._stopping.is_set():
            raise LoopReturned(f"{self.name} returned without being asked to stop")

    def _died(self, retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.error("%s died; restarting in %.1f s: %r", self.name, wait, error, exc_info=error)
        self._set_state("restarting")

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # a stop request cuts the backoff short

    def _set_state(self, state: LoopState) -> None:
        self.state = state
        self._on_change()


class LoopDown(RuntimeError):
    """A supervised loop is not running (readiness reports it)."""


class Supervisor:
    """The loops of one process, started and stopped together; the gauge
    orderflow_loops_down counts those not running."""

    def __init__(self, metrics: Metrics, policy: RestartPolicy) -> None:
        self._metrics = metrics
        self._policy = policy
        self.loops: list[Supervised] = []
        self._started = False

    def add(self, name: str, kind: str, factory: Callable[[], Loop]) -> Supervised:
        supervised = Supervised(
            name, kind, factory, metrics=self._metrics, policy=self._policy, on_change=self._count
        )
        self.loops.append(supervised)
        return supervised

    def start(self) -> None:
        self._started = True
        for supervised in self.loops:
            supervised.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        for supervised in self.loops:
            supervised.stop()
        for supervised in self.loops:
            supervised.join(timeout_s)

    def _count(self) -> None:
        if self._started:
            down = sum(1 for s in self.loops if s.state in ("starting", "restarting"))
            self._metrics.set(LOOPS_DOWN, down)
