"""The Metrics port and the catalog of every metric orderflow reports.

Each metric is declared once, here, as a module-level constant: its name,
its help text, its label names, and the label values a dashboard or an
alert reads (`initial`). An adapter declares the whole catalog when it is
built and sets each of those label combinations to 0, so /metrics on a
fresh process already lists them and a `rate()` alert has a series to
evaluate. Call sites pass the constant, never a name built from strings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric. `name` is without the `orderflow_` prefix (counters end in
    `_total`); `initial` holds label-value tuples, in the order of `labels`,
    exposed at 0 from the start."""

    kind: MetricKind
    name: str
    help: str
    labels: tuple[str, ...] = ()
    initial: tuple[tuple[str, ...], ...] = ()


def counter(
    name: str, help: str, labels: tuple[str, ...] = (), initial: tuple[tuple[str, ...], ...] = ()
) -> MetricSpec:
    return MetricSpec("counter", name, help, labels, initial)


def histogram(name: str, help: str, labels: tuple[str, ...] = ()) -> MetricSpec:
    return MetricSpec("histogram", name, help, labels)


def gauge(
    name: str, help: str, labels: tuple[str, ...] = (), initial: tuple[tuple[str, ...], ...] = ()
) -> MetricSpec:
    return MetricSpec("gauge", name, help, labels, initial)


class Metrics(ABC):
    """Counters, histograms and gauges the services report, each one of the
    MetricSpec constants below; labels are small, bounded sets."""

    @abstractmethod
    def increment(self, metric: MetricSpec, amount: float = 1.0, **labels: str) -> None:
        """Add to a counter."""

    @abstractmethod
    def observe(self, metric: MetricSpec, value: float, **labels: str) -> None:
        """Record one observation in a histogram (seconds for durations)."""

    @abstractmethod
    def set(self, metric: MetricSpec, value: float, **labels: str) -> None:
        """Set a gauge to `value`."""


# --- orders ----------------------------------------------------------------
ORDERS_PLACED = counter(
    "orders_placed_total",
    "Orders accepted, by path: outbox (normal) or broker_fallback (database down)",
    ("path",),
    (("outbox",), ("broker_fallback",)),
)
ORDERS_COMPLETED = counter("orders_completed_total", "Orders processed to completed")
ORDERS_FAILED = counter("orders_failed_total", "Orders failed by a domain rule (e.g. stock)")
ORDERS_CANCELLED = counter("orders_cancelled_total", "Orders cancelled")
ORDER_PROCESSING_SECONDS = histogram(
    "order_processing_seconds", "Seconds from placement to a terminal status"
)
STOCK_LOCK_WAIT_SECONDS = histogram(
    "stock_lock_wait_seconds", "Seconds processing waited for its product-row locks"
)

# --- the worker --------------------------------------------------------------
DLQ_MESSAGES = counter(
    "dlq_messages_total", "Messages dead-lettered (never processable: poison, not bugs)"
)
WORKER_BUGS = counter(
    "worker_bugs_total",
    "Unexpected errors in processing that outlasted the retries (a partition paused)",
)
PARTITIONS_PAUSED = gauge(
    "partitions_paused",
    "1 for each partition a worker stopped consuming because of a bug",
    ("topic", "partition"),
)
CONSUMER_PAUSES = counter(
    "consumer_pauses_total", "Times a worker paused for a database or broker outage"
)
CONSUMER_RETRIES = counter("consumer_retries_total", "Retries of transient processing errors")
CONSUMER_BATCH_FALLBACKS = counter(
    "consumer_batch_fallbacks_total", "Batches handled again one delivery at a time"
)
CONSUMER_COMMIT_FAILURES = counter(
    "consumer_commit_failures_total", "Commits the broker refused (the deliveries come again)"
)

# --- background loops (serve, library use) -------------------------------------
LOOP_RESTARTS = counter(
    "loop_restarts_total",
    "Background loops restarted after dying",
    ("loop",),
    (("relay",), ("notifications",), ("worker",)),
)
LOOPS_DOWN = gauge("loops_down", "Background loops dead or waiting to restart")

# --- cache ---------------------------------------------------------------------
CACHE_REQUESTS = counter(
    "cache_requests_total", "Order cache reads, by result", ("result",), (("hit",), ("miss",))
)
CACHE_ERRORS = counter(
    "cache_errors_total",
    "Cache faults, counted and served from the database",
    ("operation",),
    (("get",), ("put",), ("delete",)),
)

# --- notifications -------------------------------------------------------------
NOTIFICATIONS = counter(
    "notifications_total",
    "Customer notification attempts, by result",
    ("result",),
    (("sent",), ("retry",), ("given_up",), ("unknown",), ("throttled",)),
)

# --- HTTP ----------------------------------------------------------------------
HTTP_REQUEST_SECONDS = histogram(
    "http_request_seconds", "HTTP request latency", ("route", "method", "status")
)

# --- read from shared state when /metrics is scraped (not kept in memory) -----
OUTBOX_BACKLOG = gauge(
    "outbox_backlog", "Outbox messages not yet published (read from the database)"
)
NOTIFICATIONS_PENDING = gauge(
    "notifications_pending", "Customer notifications not sent yet (read from the database)"
)
CONSUMER_LAG = gauge(
    "consumer_lag",
    "Orders-topic messages the worker group has not committed, per partition",
    ("topic", "partition"),
)
SCRAPE_TIME_GAUGES = (OUTBOX_BACKLOG, NOTIFICATIONS_PENDING, CONSUMER_LAG)

# What an adapter declares when it is built (the scrape-time gauges are
# declared by the collector that reads them).
CATALOG: tuple[MetricSpec, ...] = (
    ORDERS_PLACED,
    ORDERS_COMPLETED,
    ORDERS_FAILED,
    ORDERS_CANCELLED,
    ORDER_PROCESSING_SECONDS,
    STOCK_LOCK_WAIT_SECONDS,
    DLQ_MESSAGES,
    WORKER_BUGS,
    PARTITIONS_PAUSED,
    CONSUMER_PAUSES,
    CONSUMER_RETRIES,
    CONSUMER_BATCH_FALLBACKS,
    CONSUMER_COMMIT_FAILURES,
    LOOP_RESTARTS,
    LOOPS_DOWN,
    CACHE_REQUESTS,
    CACHE_ERRORS,
    NOTIFICATIONS,
    HTTP_REQUEST_SECONDS,
)
