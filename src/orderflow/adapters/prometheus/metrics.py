"""Metrics port on prometheus_client. Each Orderflow instance owns a registry,
so several instances in one process (tests, embedding services) never clash.

Several server processes behind one port (`orderflow api --workers N`) use
prometheus_client's multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set,
counters and histograms live in files there, and every process's /metrics
adds up all of them (docs/OBSERVABILITY.md)."""

from __future__ import annotations

import os
import threading

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from orderflow.ports.metrics import Metrics

PREFIX = "orderflow_"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

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
        self._collectors: list[Collector] = []

    def increment(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counter(name, tuple(sorted(labels)))
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        histogram = self._histogram(name, tuple(sorted(labels)))
        (histogram.labels(**labels) if labels else histogram).observe(value)

    def add_collector(self, collector: Collector) -> None:
        """Expose a collector (e.g. ScrapeTimeGauges) with this instance's metrics."""
        with self._lock:
            self._collectors.append(collector)
            self.registry.register(collector)

    def serve_http(self, *, port: int, host: str) -> None:
        """Serve this registry at http://HOST:PORT/metrics from a thread of
        prometheus_client's (a worker or relay process's own metrics)."""
        start_http_server(port, addr=host, registry=self.registry)

    def exposition(self) -> bytes:
        if not os.environ.get(MULTIPROCESS_DIR):
            return generate_latest(self.registry)
        # Every process's counters and histograms, from the shared directory,
        # plus this process's own collectors (computed live, never in files).
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        with self._lock:
            for collector in self._collectors:
                registry.register(collector)
        return generate_latest(registry)

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


_multiprocess_lock = threading.Lock()
_multiprocess_on = False


def use_multiprocess_values() -> bool:
    """Call in each server process, before its first metric is made: when
    PROMETHEUS_MULTIPROC_DIR is set, metric values go to files there.
    prometheus_client picks its value class when first imported, which in a
    forked server process happened in the parent, before the variable was
    set; this picks it again. Returns whether multiprocess mode is on."""
    global _multiprocess_on
    with _multiprocess_lock:
        if os.environ.get(MULTIPROCESS_DIR) and not _multiprocess_on:
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
            _multiprocess_on = True
        return _multiprocess_on
