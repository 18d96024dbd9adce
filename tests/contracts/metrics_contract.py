"""The contract every Metrics adapter keeps. Subclasses provide `metrics`
and `read`: read(kind, name, labels) -> the counter's value or the
histogram's observation count."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from orderflow.ports.metrics import Metrics

Read = Callable[[str, str, dict[str, str]], float]


class MetricsContract:
    @pytest.fixture
    def metrics(self) -> Metrics:
        raise NotImplementedError

    @pytest.fixture
    def read(self, metrics: Metrics) -> Read:
        raise NotImplementedError

    def test_counters_add_up_per_label_set(self, metrics: Metrics, read: Read) -> None:
        metrics.increment("things_total", result="hit")
        metrics.increment("things_total", 2, result="hit")
        metrics.increment("things_total", result="miss")
        assert read("counter", "things_total", {"result": "hit"}) == 3
        assert read("counter", "things_total", {"result": "miss"}) == 1

    def test_histograms_count_observations(self, metrics: Metrics, read: Read) -> None:
        for value in (0.001, 0.2, 7.0):
            metrics.observe("wait_seconds", value)
        assert read("histogram", "wait_seconds", {}) == 3

    def test_concurrent_increments_are_not_lost(self, metrics: Metrics, read: Read) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: metrics.increment("busy_total"), range(400)))
        assert read("counter", "busy_total", {}) == 400
