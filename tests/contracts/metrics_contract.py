"""The contract every Metrics adapter keeps. Subclasses provide `metrics`
and `read`: read(metric, labels) -> the counter's value, the gauge's value
or the histogram's observation count."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from orderflow.ports.metrics import Metrics, MetricSpec, counter, gauge, histogram

Read = Callable[[MetricSpec, dict[str, str]], float]

THINGS = counter("things_total", "Things, by result", ("result",))
WAIT = histogram("wait_seconds", "Seconds waited")
BUSY = counter("busy_total", "Busy things")
LEVEL = gauge("level", "A level, by place", ("place",))


class MetricsContract:
    @pytest.fixture
    def metrics(self) -> Metrics:
        raise NotImplementedError

    @pytest.fixture
    def read(self, metrics: Metrics) -> Read:
        raise NotImplementedError

    def test_counters_add_up_per_label_set(self, metrics: Metrics, read: Read) -> None:
        metrics.increment(THINGS, result="hit")
        metrics.increment(THINGS, 2, result="hit")
        metrics.increment(THINGS, result="miss")
        assert read(THINGS, {"result": "hit"}) == 3
        assert read(THINGS, {"result": "miss"}) == 1

    def test_histograms_count_observations(self, metrics: Metrics, read: Read) -> None:
        for value in (0.001, 0.2, 7.0):
            metrics.observe(WAIT, value)
        assert read(WAIT, {}) == 3

    def test_a_gauge_holds_the_last_value_set_per_label_set(
        self, metrics: Metrics, read: Read
    ) -> None:
        metrics.set(LEVEL, 3, place="a")
        metrics.set(LEVEL, 1, place="a")
        metrics.set(LEVEL, 7, place="b")
        assert read(LEVEL, {"place": "a"}) == 1
        assert read(LEVEL, {"place": "b"}) == 7

    def test_concurrent_increments_are_not_lost(self, metrics: Metrics, read: Read) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: metrics.increment(BUSY), range(400)))
        assert read(BUSY, {}) == 400
