"""Supervision in `orderflow serve` and library use (BackgroundRuntime): a
loop that dies is restarted with backoff and counted, and /ready names it
(503) while it is down; a process whose workers hold no partition after the
grace period is not ready either."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from dependency_injector import providers

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.domain.identity import Role
from orderflow.domain.model import OrderStatus, Product
from orderflow.entrypoints.http.app import create_app
from orderflow.entrypoints.relay import RelayLoop
from orderflow.entrypoints.runtime import BackgroundRuntime
from orderflow.entrypoints.supervision import RestartPolicy, Supervisor
from orderflow.ports.metrics import LOOP_RESTARTS, LOOPS_DOWN
from tests.unit.conftest import place_command
from tests.unit.http.support import UNTHROTTLED, api_key


def eventually(condition: Callable[[], bool], *, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def app() -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(
        database_url="memory://",
        notify_url="memory://",
        loop_restart_backoff_s=0.5,
        partitions=2,
        **UNTHROTTLED,
    )
    instance.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 100)])
    yield instance
    instance.close()


def relay_dying_once(app: Orderflow) -> None:
    """The relay loops the container makes from now on: the first dies of an
    unforeseen error at once, the next ones work."""
    runs = itertools.count()

    class DyingOnce(RelayLoop):
        def run(self) -> None:
            if next(runs) == 0:
                raise RuntimeError("relay bug")
            super().run()

    app.container.relay_loop.override(
        providers.Factory(DyingOnce, **app.container.relay_loop.kwargs)
    )


def test_a_relay_that_dies_is_restarted_counted_and_its_orders_complete(
    app: Orderflow,
) -> None:
    metrics = MemoryMetrics()
    app.container.metrics.override(providers.Object(metrics))
    relay_dying_once(app)
    placed = app.placement.place(place_command(("mouse", 1)))
    order_id = str(placed.order["id"])
    client = create_app(app).test_client()
    ops = api_key(app, Role.OPS)  # /ready's details
    runtime = BackgroundRuntime(app, workers=1)
    down: list[dict[str, object]] = []

    def is_down() -> bool:
        response = client.get("/ready", headers=ops)
        if response.status_code == 503:
            down.append(response.get_json())
        return bool(down)

    try:
        runtime.start()
        eventually(is_down)

        eventually(lambda: app.queries.get(order_id).status is OrderStatus.COMPLETED)
        eventually(lambda: client.get("/ready", headers=ops).status_code == 200)
    finally:
        runtime.stop()

    assert down and down[0]["failed"] == ["loop:relay"]
    assert metrics.count(LOOP_RESTARTS, loop="relay") == 1
    assert metrics.value(LOOPS_DOWN) == 0


def test_ready_answers_503_naming_the_loop_while_it_waits_to_restart(app: Orderflow) -> None:
    relay_dying_once(app)
    client = create_app(app).test_client()
    ops = api_key(app, Role.OPS)  # /ready's details
    runtime = BackgroundRuntime(app, workers=1)
    try:
        runtime.start()
        eventually(lambda: runtime.supervisor.loops[0].state == "restarting")
        response = client.get("/ready", headers=ops)
    finally:
        runtime.stop()

    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["loop:relay"]
    assert body["checks"]["loop:relay"]["ok"] is False
    assert body["checks"]["loop:worker-0"]["ok"] is True


def test_a_loop_that_returns_without_being_asked_is_restarted_too() -> None:
    runs: list[int] = []
    stopped = threading.Event()

    class Quitting:
        def run(self) -> None:
            runs.append(1)
            if len(runs) < 3:
                return
            stopped.wait(10)

        def stop(self) -> None:
            stopped.set()

    supervisor = Supervisor(MemoryMetrics(), RestartPolicy(initial_backoff_s=0.01))
    supervised = supervisor.add("quitter", "relay", Quitting)
    supervisor.start()
    try:
        eventually(lambda: len(runs) == 3 and supervised.state == "running")
    finally:
        supervisor.stop()

    assert supervised.restarts == 2
    assert supervised.state == "stopped"


def test_stopping_cuts_a_restart_backoff_short() -> None:
    class Dying:
        def run(self) -> None:
            raise RuntimeError("always")

        def stop(self) -> None:
            pass

    supervisor = Supervisor(MemoryMetrics(), RestartPolicy(initial_backoff_s=30))
    supervised = supervisor.add("dying", "relay", Dying)
    supervisor.start()
    eventually(lambda: supervised.state == "restarting")

    started = time.monotonic()
    supervisor.stop(timeout_s=5)

    assert time.monotonic() - started < 2
    assert supervised.state == "stopped"


def test_a_process_whose_workers_hold_no_partition_is_not_ready_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = orderflow.bootstrap(
        database_url="memory://", partitions=1, worker_assignment_grace_s=0, **UNTHROTTLED
    )
    # Another member of the group holds the only partition.
    other = app.container.consumer()
    client = create_app(app).test_client()
    ops = api_key(app, Role.OPS)  # /ready's details
    runtime = BackgroundRuntime(app, workers=1, relay=False)
    try:
        runtime.start()
        with caplog.at_level(logging.WARNING):
            eventually(lambda: client.get("/ready", headers=ops).status_code == 503)
        body = client.get("/ready", headers=ops).get_json()
        assert body["failed"] == ["partitions"]
        assert any("no partition assigned" in r.getMessage() for r in caplog.records)

        other.close()  # the partition moves to this process's worker
        eventually(lambda: client.get("/ready", headers=ops).status_code == 200)
    finally:
        runtime.stop()
        app.close()


def test_within_the_grace_period_a_worker_without_partitions_is_still_ready() -> None:
    app = orderflow.bootstrap(
        database_url="memory://", partitions=1, worker_assignment_grace_s=3600
    )
    other = app.container.consumer()
    client = create_app(app).test_client()
    ops = api_key(app, Role.OPS)  # /ready's details
    runtime = BackgroundRuntime(app, workers=1, relay=False)
    try:
        runtime.start()
        response = client.get("/ready", headers=ops)
    finally:
        runtime.stop()
        other.close()
        app.close()

    assert response.status_code == 200
