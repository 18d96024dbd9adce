"""Scenario 1: workers killed with SIGKILL in the middle of their batches,
again and again while 1,000 orders flow in (fewer on the slower stores:
Rig.scale), and started again each time.

A killed worker commits nothing: its deliveries go to another member (or to
itself once restarted) and are processed again; the database effects of the
ones it had finished are found done. Nothing may be lost or doubled."""

from __future__ import annotations

import signal
import threading
import time

from tests.faults.rig import WORKERS, Figures, Rig, Scenario

ORDERS = 1000


def kill_workers(rig: Rig, scenario: Scenario, done: threading.Event) -> None:
    for kill in range(rig.scale.kills):
        if done.wait(2.0):
            return
        name = WORKERS[kill % len(WORKERS)]
        # Mid-batch: wait until this worker holds orders between T1 and T2
        # (`processing` in the database, on a partition it is assigned; the
        # processing delay keeps them there for delay x batch size). After a
        # kill the group rebalances (about 6-10 s) and nobody works meanwhile.
        held = rig.wait_mid_batch(name, 15.0)
        rig.stack.kill(name, signal.SIGKILL)
        scenario.faults["worker SIGKILL"] += 1
        time.sleep(0.5)
        # Still `processing` now: the kill came before the batch's T2.
        left = sum(1 for status in rig.statuses(held).values() if status == "processing")
        scenario.notes.setdefault("kills", []).append(
            {
                "worker": name,
                "busy": bool(held),
                "orders_mid_batch": len(held),
                "left_processing": left,
            }
        )
        rig.stack.restart(name)


def test_workers_killed_mid_batch_lose_and_double_nothing(
    healthy: Rig, results: list[Figures]
) -> None:
    rig = healthy
    orders = rig.scale.count(ORDERS)
    scenario = rig.open("kills", {"kill-plenty": 1_000_000, "kill-scarce": orders * 2 // 5})
    requests = scenario.requests(orders, [("kill-plenty", 1, 3), ("kill-scarce", 1, 2)], seed=1)

    done = threading.Event()
    killer = threading.Thread(target=kill_workers, args=(rig, scenario, done))
    killer.start()
    try:
        # Paced so that the kills fall inside the intake (Scale.intake_s).
        rig.place_many(scenario, requests, per_second=orders / rig.scale.intake_s)
        killer.join(90)
    finally:
        done.set()
        killer.join()
    rig.wait_settled(scenario, timeout_s=120)

    figures = rig.conclude(scenario, results)
    kills = rig.scale.kills
    assert scenario.faults["worker SIGKILL"] >= kills - 1
    assert sum(k["busy"] for k in scenario.notes["kills"]) >= kills - 1, scenario.notes
    # ...and the kill itself came before those orders' T2: they were left
    # `processing` for the redelivery to finish.
    left = sum(k["left_processing"] > 0 for k in scenario.notes["kills"])
    assert left >= kills - 2, scenario.notes
    assert figures.orders == orders
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()
