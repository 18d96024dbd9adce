"""Scrape-time gauges fail soft: a source that raises or hangs costs the
scrape at most its deadline and shows as down, never as an error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orderflow.adapters.prometheus.scrape_gauges import GaugeSource, ScrapeTimeGauges
from orderflow.domain.errors import StorageUnavailable
from tests.support.metrics import parse, value


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def scrape(collector: ScrapeTimeGauges) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_a_failing_or_hung_source_is_reported_down_within_the_deadline(
    release: threading.Event,
) -> None:
    calls: list[str] = []

    def good() -> dict[tuple[str, ...], float]:
        return {("orders", "0"): 3.0, ("orders", "1"): 0.0}

    def broken() -> dict[tuple[str, ...], float]:
        raise StorageUnavailable("db down")

    def hung() -> dict[tuple[str, ...], float]:
        calls.append("hung")
        release.wait(10)
        return {(): 1.0}

    collector = ScrapeTimeGauges(
        [
            GaugeSource("orderflow_good", "ok", ("topic", "partition"), good),
            GaugeSource("orderflow_broken", "raises", (), broken),
            GaugeSource("orderflow_hung", "hangs", (), hung),
        ],
        timeout_s=0.2,
        ttl_s=0.0,
    )

    started = time.perf_counter()
    first = parse(scrape(collector))
    second = parse(scrape(collector))
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5  # one deadline; the second scrape does not wait on the hung thread
    assert calls == ["hung"]
    for samples, families in (first, second):
        assert value(samples, "orderflow_good", topic="orders", partition="0") == 3
        assert {"orderflow_broken", "orderflow_hung"} <= families
        assert value(samples, "orderflow_scrape_source_up", source="orderflow_good") == 1
        assert value(samples, "orderflow_scrape_source_up", source="orderflow_broken") == 0
        assert value(samples, "orderflow_scrape_source_up", source="orderflow_hung") == 0
        assert not [k for k in samples if k[0] in ("orderflow_broken", "orderflow_hung")]

    release.set()
    time.sleep(0.05)
    third = parse(scrape(collector))[0]
    assert value(third, "orderflow_hung") == 1


def test_a_value_is_reused_for_the_cache_period() -> None:
    reads: list[int] = []

    def counting() -> dict[tuple[str, ...], float]:
        reads.append(1)
        return {(): float(len(reads))}

    collector = ScrapeTimeGauges([GaugeSource("orderflow_n", "n", (), counting)], ttl_s=60)

    assert [value(parse(scrape(collector))[0], "orderflow_n") for _ in range(3)] == [1, 1, 1]
    assert len(reads) == 1
