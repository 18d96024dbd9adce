"""Metrics port on prometheus_client. Each Orderflow instance owns a registry,
so several instances in one process (tests, embedding services) never clash.

Several server processes behind one port (`orderflow api --workers N`) use
prometheus_client's multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set,
counters and histograms live in files there, and every process's /metrics
adds up all of them (docs/OBSERVABILITY.md)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from wsgiref.types import StartResponse
    from wsgiref.types import WSGIApplication as WSGIApp

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from orderflow.ports.metrics import CATALOG, Metrics, MetricSpec

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
    """Declares every metric of `catalog` when built, each label combination
    a dashboard or an alert reads at 0 (ports/metrics.py); a metric outside
    the catalog is declared on first use."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, catalog: Iterable[MetricSpec] = CATALOG
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._lock = threading.Lock()
        self._families: dict[str, Counter | Histogram | Gauge] = {}
        self._children: dict[tuple[object, ...], Counter | Histogram | Gauge] = {}
        self._collectors: list[Collector] = []
        for spec in catalog:
            family = self._family(spec)
            for values_ in spec.initial:
                family.labels(*values_)

    def increment(self, metric: MetricSpec, amount: float = 1.0, **labels: str) -> None:
        child = self._child(metric, labels, Counter)
        assert isinstance(child, Counter)
        child.inc(amount)

    def observe(self, metric: MetricSpec, value: float, **labels: str) -> None:
        child = self._child(metric, labels, Histogram)
        assert isinstance(child, Histogram)
        child.observe(value)

    def set(self, metric: MetricSpec, value: float, **labels: str) -> None:
        child = self._child(metric, labels, Gauge)
        assert isinstance(child, Gauge)
        child.set(value)

    def add_collector(self, collector: Collector) -> None:
        """Expose a collector (e.g. ScrapeTimeGauges) with this instance's metrics."""
        with self._lock:
            self._collectors.append(collector)
            self.registry.register(collector)

    def serve_http(
        self, *, port: int, host: str, routes: Mapping[str, Route] | None = None
    ) -> None:
        """Serve this registry at http://HOST:PORT/metrics (a worker or relay
        process's own metrics), and each of `routes` (path -> a call giving
        the status and JSON body, e.g. /ready), from daemon threads."""
        server = make_server(
            host,
            port,
            _with_routes(make_wsgi_app(self.registry), routes or {}),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()

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

    def _child(
        self, spec: MetricSpec, labels: Mapping[str, str], kind: type[Counter | Histogram | Gauge]
    ) -> Counter | Histogram | Gauge:
        """The labelled series, remembered: prometheus_client's `labels()`
        validates and locks on every call, and label values are a bounded
        set here (ports/metrics.py), so each series is looked up once."""
        key = (spec.name, *labels.items())
        child = self._children.get(key)
        if child is None:
            family = self._family(spec)
            assert isinstance(family, kind), spec.name
            child = family.labels(**labels) if labels else family
            self._children[key] = child
        return child

    def _family(self, spec: MetricSpec) -> Counter | Histogram | Gauge:
        with self._lock:
            family = self._families.get(spec.name)
            if family is None:
                family = self._families[spec.name] = _declare(spec, self.registry)
            return family


def _declare(spec: MetricSpec, registry: CollectorRegistry) -> Counter | Histogram | Gauge:
    name = PREFIX + spec.name
    if spec.kind == "counter":
        return Counter(name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.kind == "histogram":
        return Histogram(name, spec.help, spec.labels, registry=registry, buckets=LATENCY_BUCKETS)
    # Summed over the live processes when several share one /metrics.
    return Gauge(name, spec.help, spec.labels, registry=registry, multiprocess_mode="livesum")


Route = Callable[[], tuple[int, bytes]]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds the process up


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds: not worth a log line each."""


def _with_routes(metrics_app: WSGIApp, routes: Mapping[str, Route]) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return metrics_app(environ, start_response)
        status, body = route()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


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
