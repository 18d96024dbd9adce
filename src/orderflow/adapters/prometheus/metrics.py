"""Metrics port on prometheus_client. Each Orderflow instance owns a registry,
so several instances in one process (tests, embedding services) never clash."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from orderflow.ports.metrics import Metrics

PREFIX = "orderflow_"

# Seconds; spans a cache hit (sub-millisecond) to a slow order (tens of seconds).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)


class PrometheusMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}

    def increment(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counter(name, tuple(sorted(labels)))
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        histogram = self._histogram(name, tuple(sorted(labels)))
        (histogram.labels(**labels) if labels else histogram).observe(value)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def _counter(self, name: str, label_names: tuple[str, ...]) -> Counter:
        with self._lock:
            if name not in self._counters:
                self._counters[name] = Counter(
                    PREFIX + name.removesuffix("_total"),
                    name.replace("_", " "),
                    label_names,
                    registry=self.registry,
                )
            return self._counters[name]

    def _histogram(self, name: str, label_names: tuple[str, ...]) -> Histogram:
        with self._lock:
            if name not in self._histograms:
                self._histograms[name] = Histogram(
                    PREFIX + name,
                    name.replace("_", " "),
                    label_names,
                    registry=self.registry,
                    buckets=LATENCY_BUCKETS,
                )
            return self._histograms[name]
