"""Scenario 3: the database goes away (the proxy cuts every open connection
and refuses new ones) during intake and processing, then comes back.

The contract: intake stays available by publishing each order straight to
the broker (priced from the catalog as last read); workers retry and pause
instead of dead-lettering, and persist those orders (upsert by id) once the
database is back. Every 201 must end as exactly one stored, processed order.

Whether a worker pauses or rides the outage out on its retries depends on
the store's timeouts (MongoDB's client waits 3 s to select a server, so its
three attempts can outlast a 6 s outage): the scenario counts both."""

from __future__ import annotations

import re
import time

from tests.faults.rig import Figures, Rig

BEFORE, DURING, AFTER = 60, 40, 40
OUTAGE_S = 6.0


def fallback_count(rig: Rig) -> float:
    """orders_placed_total{path="broker_fallback"} of the API process."""
    text = rig.call_text("/metrics")
    found = re.search(r'orderflow_orders_placed_total\{path="broker_fallback"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


def setbacks(rig: Rig) -> float:
    """The workers' pauses and retries of transient errors so far."""
    return rig.worker_counter("orderflow_consumer_pauses_total") + rig.worker_counter(
        "orderflow_consumer_retries_total"
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
    before, during, after = (rig.scale.count(n) for n in (BEFORE, DURING, AFTER))
    requests = [
        scenario.request(0, first),
        *scenario.requests(before + during + after - 1, choices, seed=3, start=1),
    ]
    setbacks_before = setbacks(rig)
    fallback_before = fallback_count(rig)

    # The API learns the prices.
    rig.place_many(scenario, requests[:before], per_second=rig.scale.rate(100))
    started = time.monotonic()
    scenario.notes["connections_cut"] = rig.db_proxy.outage()
    scenario.faults["database outage"] += 1
    rig.place_many(scenario, requests[before : before + during], per_second=during / 4)
    # Each order placed through the broker is one Kafka transaction on the
    # API's one producer: intake is much slower than through the database.
    scenario.notes["intake_during_outage_per_s"] = round(during / (time.monotonic() - started), 1)
    time.sleep(max(0.0, started + OUTAGE_S - time.monotonic()))
    rig.db_proxy.resume()
    scenario.notes["outage_s"] = round(time.monotonic() - started, 1)
    rig.place_many(scenario, requests[before + during :], per_second=rig.scale.rate(100))

    rig.wait_settled(scenario, timeout_s=120)
    scenario.notes["placed_through_broker"] = int(fallback_count(rig) - fallback_before)
    scenario.notes["worker_pauses_and_retries"] = int(setbacks(rig) - setbacks_before)
    figures = rig.conclude(scenario, results)
    assert figures.orders == len(requests)
    assert scenario.notes["placed_through_broker"] > 0, "the outage did not reach intake"
    assert scenario.notes["worker_pauses_and_retries"] > 0, "the outage did not reach the workers"
    assert rig.call("GET", "/ready")[0] == 200
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()
