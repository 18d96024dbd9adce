"""Gauges computed when /metrics is scraped, from shared state (the
database's outbox, the broker's consumer group) rather than from one
process's memory: any API process reports the same, true value, and a dead
worker cannot leave a stale number behind.

Each source is read in its own thread under a deadline and cached for a few
seconds, so a scrape never waits long and a busy scraper costs the database
one query per source per `ttl_s`. A failing or slow source fails soft: its
family is exposed without samples and `orderflow_scrape_source_up{source}`
reads 0, so the scrape itself always succeeds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Samples = Mapping[tuple[str, ...], float]  # label values -> value
UP = "orderflow_scrape_source_up"


@dataclass(frozen=True, slots=True)
class GaugeSource:
    name: str  # the full metric name, orderflow_...
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[], Samples]


class _Reading:
    """The last value of one source, and the thread refreshing it (if any)."""

    def __init__(self) -> None:
        self.samples: Samples | None = None
        self.at = float("-inf")
        self.thread: threading.Thread | None = None


class ScrapeTimeGauges(Collector):
    def __init__(
        self, sources: Sequence[GaugeSource], *, timeout_s: float = 1.0, ttl_s: float = 5.0
    ) -> None:
        self._sources = list(sources)
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._readings = {source.name: _Reading() for source in self._sources}

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not query the database or the broker.
        for source in self._sources:
            yield GaugeMetricFamily(source.name, source.documentation, labels=source.labels)
        yield GaugeMetricFamily(UP, "1 if the source answered the last scrape", labels=["source"])

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(UP, "1 if the source answered the last scrape", labels=["source"])
        for source in self._sources:
            samples = self._value(source)
            family = GaugeMetricFamily(source.name, source.documentation, labels=source.labels)
            for label_values, value in sorted((samples or {}).items()):
                family.add_metric(list(label_values), value)
            up.add_metric([source.name], 0.0 if samples is None else 1.0)
            yield family
        yield up

    def _value(self, source: GaugeSource) -> Samples | None:
        reading = self._readings[source.name]
        with self._lock:
            if time.monotonic() - reading.at < self._ttl_s:
                return reading.samples
            if reading.thread is not None and reading.thread.is_alive():
                return None  # the last refresh still hangs: do not pile up threads
            thread = threading.Thread(
                target=self._refresh, args=(source, reading), name=f"scrape-{source.name}"
            )
            thread.daemon = True
            reading.thread = thread
        thread.start()
        thread.join(self._timeout_s)
        with self._lock:
            if thread.is_alive():
                log.warning("metric source %s timed out after %g s", source.name, self._timeout_s)
                return None
            return reading.samples

    def _refresh(self, source: GaugeSource, reading: _Reading) -> None:
        try:
            samples: Samples | None = dict(source.read())
        except Exception as exc:  # fail soft: a scrape must never fail
            log.warning("metric source %s failed: %r", source.name, exc)
            samples = None
        with self._lock:
            reading.samples = samples
            reading.at = time.monotonic()
