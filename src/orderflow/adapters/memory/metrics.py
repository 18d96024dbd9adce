"""Metrics kept in memory: what tests read back (count, value)."""

from __future__ import annotations

import threading
from collections import defaultdict

from orderflow.ports.metrics import Metrics, MetricSpec

LabelKey = tuple[str, tuple[tuple[str, str], ...]]


def _key(metric: MetricSpec, labels: dict[str, str]) -> LabelKey:
    return (metric.name, tuple(sorted(labels.items())))


class MemoryMetrics(Metrics):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[LabelKey, float] = defaultdict(float)
        self.gauges: dict[LabelKey, float] = {}
        self.observations: dict[LabelKey, list[float]] = defaultdict(list)

    def increment(self, metric: MetricSpec, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self.counters[_key(metric, labels)] += amount

    def observe(self, metric: MetricSpec, value: float, **labels: str) -> None:
        with self._lock:
            self.observations[_key(metric, labels)].append(value)

    def set(self, metric: MetricSpec, value: float, **labels: str) -> None:
        with self._lock:
            self.gauges[_key(metric, labels)] = value

    def count(self, metric: MetricSpec, **labels: str) -> float:
        with self._lock:
            return self.counters.get(_key(metric, labels), 0.0)

    def value(self, metric: MetricSpec, **labels: str) -> float:
        """A gauge's last value (0 if never set)."""
        with self._lock:
            return self.gauges.get(_key(metric, labels), 0.0)
