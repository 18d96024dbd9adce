"""Scenario 2: the broker stops answering (SIGSTOP: connections stay open,
nothing is answered, as with a hung broker or a network partition) once
during intake and once while the workers work through a backlog.

Intake only needs the database: every request still gets its 201 and the
outbox keeps the orders; the relay and the workers wait, and drain the
backlog once the broker answers again (SIGCONT)."""

from __future__ import annotations

import os
import signal
import time

from tests.faults.rig import Figures, Rig, Scenario

BEFORE, DURING, AFTER = 60, 100, 40
FREEZE_S = 6.0


def freeze(rig: Rig, scenario: Scenario) -> float:
    process = rig.kafka.process
    assert process is not None and process.poll() is None, "the broker is not running"
    os.kill(process.pid, signal.SIGSTOP)
    scenario.faults["broker SIGSTOP"] += 1
    return time.monotonic()


def thaw(rig: Rig, frozen_at: float, at_least_s: float) -> None:
    time.sleep(max(0.0, frozen_at + at_least_s - time.monotonic()))
    process = rig.kafka.process
    assert process is not None
    os.kill(process.pid, signal.SIGCONT)


def test_a_frozen_broker_delays_orders_but_loses_and_doubles_none(
    healthy: Rig, results: list[Figures]
) -> None:
    rig = healthy
    scenario = rig.open("broker", {"brk-plenty": 1_000_000, "brk-scarce": 120})
    choices = [("brk-plenty", 1, 3), ("brk-scarce", 1, 2)]
    before, during, after = (rig.scale.count(n) for n in (BEFORE, DURING, AFTER))
    requests = scenario.requests(before + during + after, choices, seed=2)

    rig.place_many(scenario, requests[:before], per_second=rig.scale.rate(100))
    # 1: during intake. The API answers from the database alone.
    frozen_at = freeze(rig, scenario)
    intake_started = time.monotonic()
    rig.place_many(scenario, requests[before : before + during], per_second=during / 4)
    scenario.notes["intake_during_freeze_s"] = round(time.monotonic() - intake_started, 1)
    thaw(rig, frozen_at, FREEZE_S)

    # 2: during processing, with a backlog in the outbox and on the topic.
    rig.place_many(scenario, requests[before + during :], per_second=rig.scale.rate(200))
    frozen_at = freeze(rig, scenario)
    thaw(rig, frozen_at, FREEZE_S / 2)

    rig.wait_settled(scenario, timeout_s=120)
    figures = rig.conclude(scenario, results)
    assert figures.orders == len(requests)
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()
