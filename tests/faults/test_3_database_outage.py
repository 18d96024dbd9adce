"""Scenario 3: the database goes away (the proxy cuts every open connection
and refuses new ones) during intake and processing, then comes back.

SPEC: intake stays available by publishing each order straight to the
broker (priced from the catalog as last read); workers pause instead of
dead-lettering, and persist those orders (upsert by id) once the database is
back. Every 201 must end as exactly one stored, processed order."""

from __future__ import annotations

import re
import time

from tests.faults.rig import WORKERS, Figures, Rig
from tests.support.stack import http_call

BEFORE, DURING, AFTER = 60, 40, 40
OUTAGE_S = 6.0


def fallback_count(rig: Rig) -> float:
    """orders_placed_total{path="broker_fallback"} of the API process."""
    import urllib.request

    with urllib.request.urlopen(f"{rig.stack.base}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(r'orderflow_orders_placed_total\{path="broker_fallback"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


def pauses(rig: Rig) -> int:
    return sum(
        (rig.stack.workdir / f"{name}.log").read_text(errors="replace").count("pausing consumption")
        for name in WORKERS
    )


def test_a_database_outage_keeps_intake_open_and_loses_and_doubles_nothing(
    healthy: Rig, results: list[Figures]
) -> None:
    rig = healthy
    scenario = rig.open("database", {"db-plenty": 1_000_000, "db-scarce": 100})
    choices = [("db-plenty", 1, 3), ("db-scarce", 1, 2)]
    # The first order names every product: the API has read every price
    # before the outage (it prices fallback orders from what it last read).
    first = [{"product_id": pid, "quantity": 1} for pid, _, _ in choices]
    requests = [
        scenario.request(0, first),
        *scenario.requests(BEFORE + DURING + AFTER - 1, choices, seed=3, start=1),
    ]
    pauses_before = pauses(rig)
    fallback_before = fallback_count(rig)

    rig.place_many(scenario, requests[:BEFORE], per_second=100)  # the API learns the prices
    started = time.monotonic()
    scenario.notes["connections_cut"] = rig.db_proxy.outage()
    scenario.faults["database outage"] += 1
    rig.place_many(scenario, requests[BEFORE : BEFORE + DURING], per_second=DURING / 4)
    # Each order placed through the broker is one Kafka transaction on the
    # API's one producer: intake is much slower than through the database.
    scenario.notes["intake_during_outage_per_s"] = round(DURING / (time.monotonic() - started), 1)
    time.sleep(max(0.0, started + OUTAGE_S - time.monotonic()))
    rig.db_proxy.resume()
    scenario.notes["outage_s"] = round(time.monotonic() - started, 1)
    rig.place_many(scenario, requests[BEFORE + DURING :], per_second=100)

    rig.wait_settled(scenario, timeout_s=120)
    scenario.notes["placed_through_broker"] = int(fallback_count(rig) - fallback_before)
    scenario.notes["worker_pauses"] = pauses(rig) - pauses_before
    figures = rig.conclude(scenario, results)
    assert figures.orders == len(requests)
    assert scenario.notes["placed_through_broker"] > 0, "the outage did not reach intake"
    assert scenario.notes["worker_pauses"] > 0, "the outage did not reach the workers"
    assert http_call("GET", f"{rig.stack.base}/ready")[0] == 200
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()
