"""The relay's housekeeping, as `orderflow relay` runs it (RelayLoop built
from Settings): the stuck-order sweeper re-drives orders left pending past
ORDERFLOW_STUCK_AFTER_S, and published outbox rows and idempotency keys
older than their retention are purged, at their configured intervals.
On the memory store and SQLite here; on MariaDB in tests/integration."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from dependency_injector import providers

import orderflow
from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.config import Settings
from orderflow.domain.identity import ANONYMOUS_SCOPE, scoped_key
from orderflow.domain.model import Product
from orderflow.ports.clock import Clock
from tests.unit.conftest import place_command

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class SettableClock(Clock):
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def run_housekeeping(database_url: str) -> None:
    """Old published rows and keys go, newer ones stay; the stuck order is
    re-driven, the fresh one is not."""
    clock = SettableClock(T0)
    app = orderflow.bootstrap(
        database_url=database_url,
        notify_url="memory://",
        stuck_after_s=300,
        sweep_interval_s=0.05,
        purge_interval_s=0.05,
        outbox_retention_h=24,
        idempotency_retention_h=24,
    )
    app.container.clock.override(providers.Object(clock))
    try:
        if app.settings.database_kind == "sql":
            app.migrate()
        app.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 5)])
        old = app.placement.place(place_command(("mouse", 1), key="key-old"))
        assert app.relay.drain_once() == 1  # published at T0
        clock.current = T0 + timedelta(hours=25)
        new = app.placement.place(place_command(("mouse", 1), key="key-new"))
        assert app.relay.drain_once() == 1  # published at T0 + 25 h
        broker = app.container.memory_broker()
        assert isinstance(broker, MemoryBroker)
        originals = broker.messages(app.topics.orders)
        assert len(originals) == 2

        loop = app.new_relay_loop()
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while len(broker.messages(app.topics.orders)) < 3:
            assert time.monotonic() < deadline, "the sweeper did not re-drive the stuck order"
            time.sleep(0.02)
        time.sleep(0.2)  # a few more rounds: the fresh order must not be re-driven
        loop.stop()
        thread.join(5)
        while app.relay.drain_once():  # a sweep the loop stopped after
            pass

        # Re-driven at every sweep while it stays stuck (no worker runs here).
        # (Listed partition by partition: the originals are not always first.)
        redriven = [m for m in broker.messages(app.topics.orders) if m not in originals]
        assert redriven and all(str(old.order["id"]).encode() in m for m in redriven)
        with app.uow_factory() as uow:
            assert uow.idempotency.get(scoped_key(ANONYMOUS_SCOPE, "key-old")) is None
            assert uow.idempotency.get(scoped_key(ANONYMOUS_SCOPE, "key-new")) is not None
            # The old published row is gone, the new one is kept (until its
            # retention ends); the re-drive is published.
            assert uow.outbox.purge_published(older_than=T0 + timedelta(hours=25)) == 0
            # The new order's row and the re-drives (published "now", T0 + 25 h).
            assert uow.outbox.purge_published(older_than=T0 + timedelta(days=9)) == 1 + len(
                redriven
            )
            assert uow.outbox.pending_count() == 0
            assert uow.orders.get(str(new.order["id"])) is not None
    finally:
        app.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_relay_sweeps_stuck_orders_and_purges_old_rows_and_keys(
    backend: str, tmp_path: Path
) -> None:
    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path / 'house.sqlite3'}"
    run_housekeeping(url)


def test_intervals_and_retentions_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "STUCK_AFTER_S": "120",
        "SWEEP_INTERVAL_S": "7",
        "PURGE_INTERVAL_S": "30",
        "OUTBOX_RETENTION_H": "2",
        "IDEMPOTENCY_RETENTION_H": "48",
    }.items():
        monkeypatch.setenv(f"ORDERFLOW_{name}", value)
    app = orderflow.bootstrap(database_url="memory://")
    try:
        housekeeping = app.new_relay_loop()._housekeeping
    finally:
        app.close()
    assert housekeeping.stuck_after == timedelta(seconds=120)
    assert housekeeping.sweep_every_s == 7
    assert housekeeping.purge_every_s == 30
    assert housekeeping.outbox_retention == timedelta(hours=2)
    assert housekeeping.idempotency_retention == timedelta(hours=48)


def test_the_sweep_interval_defaults_to_a_quarter_of_the_stuck_age() -> None:
    app = orderflow.bootstrap(database_url="memory://", stuck_after_s=60)
    try:
        assert app.new_relay_loop()._housekeeping.sweep_every_s == 15
    finally:
        app.close()


def test_idempotency_keys_are_kept_at_least_24_hours() -> None:
    with pytest.raises(ValueError, match="idempotency_retention_h"):
        Settings(idempotency_retention_h=23)
