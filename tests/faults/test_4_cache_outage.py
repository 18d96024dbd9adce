"""Scenario 4: Redis goes away (the proxy cuts its connections and refuses
new ones) while orders are in flight, and comes back.

SPEC: status reads fall back to the database quickly, and the cache never
serves an older status than the database once it is back: the final check
compares every order's status and version from the API with the database."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.faults.rig import Figures, Rig
from tests.support.stack import http_call

BEFORE, DURING, AFTER = 50, 40, 20
OUTAGE_S = 4.0


def timed_reads(rig: Rig, ids: list[str]) -> tuple[list[int], float]:
    def read(order_id: str) -> tuple[int, float]:
        started = time.monotonic()
        status, _ = http_call("GET", f"{rig.stack.base}/api/orders/{order_id}", headers=rig.shop)
        return status, time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(read, ids))
    return [status for status, _ in answers], max((s for _, s in answers), default=0.0)


def test_a_cache_outage_slows_nothing_much_and_leaves_no_stale_status(
    healthy: Rig, results: list[Figures]
) -> None:
    rig = healthy
    scenario = rig.open("cache", {"cache-plenty": 1_000_000, "cache-scarce": 60})
    choices = [("cache-plenty", 1, 3), ("cache-scarce", 1, 2)]
    requests = scenario.requests(BEFORE + DURING + AFTER, choices, seed=4)

    # Fast, so that orders are in flight (cached as processing) when it goes.
    rig.place_many(scenario, requests[:BEFORE], per_second=200)
    started = time.monotonic()
    scenario.notes["connections_cut"] = rig.redis_proxy.outage()
    scenario.faults["redis outage"] += 1
    statuses, slowest = timed_reads(rig, list(scenario.accepted))
    rig.place_many(scenario, requests[BEFORE : BEFORE + DURING], per_second=40)
    more, slowest_more = timed_reads(rig, list(scenario.accepted))
    time.sleep(max(0.0, started + OUTAGE_S - time.monotonic()))
    rig.redis_proxy.resume()
    scenario.notes["outage_s"] = round(time.monotonic() - started, 1)
    scenario.notes["reads_during_outage"] = len(statuses) + len(more)
    scenario.notes["slowest_read_during_outage_s"] = round(max(slowest, slowest_more), 3)
    rig.place_many(scenario, requests[BEFORE + DURING :], per_second=100)

    rig.wait_settled(scenario, timeout_s=90)
    figures = rig.conclude(scenario, results)
    assert set(statuses + more) == {200}, "status reads must answer from the database"
    assert scenario.notes["slowest_read_during_outage_s"] < 2.0
    assert figures.orders == len(requests)
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()
