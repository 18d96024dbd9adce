"""Scenario 6: three workers race for the last units of the same products.

200 orders, each for one to three of three scarce products (in random order
in the request), spread over every partition, so the workers reserve the
same rows at the same time. The products' rows are locked in sorted id order
(SELECT ... FOR UPDATE): nothing is oversold, nothing deadlocks for good,
and every order that could not be served failed with the reason."""

from __future__ import annotations

import random
from collections import Counter

from tests.faults.rig import WORKERS, Figures, Rig

ORDERS = 200
STOCK = {"race-a": 40, "race-b": 25, "race-c": 10}


def test_workers_racing_for_the_last_units_never_oversell(
    healthy: Rig, results: list[Figures]
) -> None:
    rig = healthy
    orders = rig.scale.count(ORDERS, least=40)
    # As scarce for fewer orders as for ORDERS: the stock shrinks with them.
    stock = {pid: max(2, units * orders // ORDERS) for pid, units in STOCK.items()}
    scenario = rig.open("race", stock)
    rng = random.Random(6)
    requests = []
    for index in range(orders):
        picked = rng.sample(sorted(stock), rng.randint(1, 3))
        items = [{"product_id": pid, "quantity": rng.randint(1, 3)} for pid in picked]
        requests.append(scenario.request(index, items))

    rig.place_many(scenario, requests, threads=8, per_second=rig.scale.rate(400))
    rig.wait_settled(scenario, timeout_s=90)

    figures = rig.verify(scenario)
    stored = rig.view.orders(scenario.accepted)
    completed = sum(1 for o in stored if o.status == "completed")
    failed = sum(1 for o in stored if o.status == "failed")
    scenario.notes.update(completed=completed, failed=failed)
    left = rig.view.stock(stock)
    reasons = {o.failure_reason for o in stored if o.status == "failed"}
    scenario.notes["stock_left"] = left
    # Which workers took part: the one holding each order's partition (as
    # its consumer logged its assignments) when the order was finished.
    takers = Counter(rig.worker_of(o.id, o.updated_at) for o in stored)
    scenario.notes["orders_per_worker"] = {name: takers[name] for name in WORKERS}
    scenario.faults["workers racing"] = sum(
        1 for count in scenario.notes["orders_per_worker"].values() if count
    )
    figures.notes = scenario.notes
    figures.faults = dict(scenario.faults)
    results.append(figures)
    print(figures.line(), scenario.notes)
    assert figures.orders == orders
    assert figures.faults["workers racing"] >= 2, scenario.notes
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()
    # The race was real: most orders could not be served and the stock ran out.
    assert failed > orders / 2 and completed >= orders // 40, scenario.notes
    assert min(left.values()) < 3 and sum(left.values()) < sum(stock.values()) / 2, left
    assert all("insufficient stock" in (reason or "").lower() for reason in reasons), reasons
