"""The library entry point: build orderflow from a configuration.

    import orderflow

    app = orderflow.bootstrap()                      # ORDERFLOW_* env vars
    app = orderflow.bootstrap(database_url="sqlite:///shop.db")   # overrides
    result = app.placement.place(command)
    order = app.queries.get(order_id)
    app.close()

`Orderflow` is a thin typed facade over the container (containers.py, the
composition root): each attribute resolves one of its providers, so a
service and its adapters are built only when first used."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from dependency_injector import providers

from orderflow.adapters.prometheus.metrics import (
    PREFIX,
    PrometheusMetrics,
    use_multiprocess_values,
)
from orderflow.adapters.prometheus.scrape_gauges import GaugeSource, ScrapeTimeGauges
from orderflow.config import Settings
from orderflow.containers import Container
from orderflow.entrypoints.notifications import NotificationLoop
from orderflow.entrypoints.relay import RelayLoop
from orderflow.entrypoints.worker import Worker
from orderflow.ports.metrics import CONSUMER_LAG, NOTIFICATIONS_PENDING, OUTBOX_BACKLOG
from orderflow.ports.schema import SchemaState

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Provided(Generic[T]):
    """An attribute of Orderflow: what the container's provider of the same
    name gives (typed by that provider), built on first use."""

    def __init__(self, provider: providers.Provider[T]) -> None:
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, app: Orderflow, owner: type | None = None) -> T:
        provider: providers.Provider[T] = getattr(app.container, self._name)
        return provider()


class Orderflow:
    def __init__(self, settings: Settings, container: Container) -> None:
        self.settings = settings
        self.container = container
        self._scrape_gauges_lock = threading.Lock()
        self._scrape_gauges_added = False
        self._extra_checks: dict[str, Callable[[], None]] = {}

    # The use cases, and the ports as the container composed them (`cache`:
    # faults counted, never raised; `raw_cache`: the cache itself).
    placement = _Provided(Container.placement)
    queries = _Provided(Container.queries)
    cancellation = _Provided(Container.cancellation)
    catalog = _Provided(Container.catalog)
    authenticator = _Provided(Container.authenticator)
    api_keys = _Provided(Container.api_keys)
    api_key_store = _Provided(Container.api_key_store)
    raw_api_key_store = _Provided(Container.raw_api_key_store)
    processor = _Provided(Container.processor)
    relay = _Provided(Container.relay)
    sweeper = _Provided(Container.sweeper)
    notification_dispatcher = _Provided(Container.notification_dispatcher)
    uow_factory = _Provided(Container.uow_factory)
    publisher = _Provided(Container.publisher)
    cache = _Provided(Container.cache)
    raw_cache = _Provided(Container.raw_cache)
    notifier = _Provided(Container.notifier)  # per-recipient limit over raw_notifier
    raw_notifier = _Provided(Container.raw_notifier)
    notification_ledger = _Provided(Container.notification_ledger)
    lag_probe = _Provided(Container.lag_probe)
    topic_store = _Provided(Container.topic_store)
    metrics = _Provided(Container.metrics)
    clock = _Provided(Container.clock)
    codec = _Provided(Container.codec)
    topics = _Provided(Container.topics)

    # --- the loops a process runs ----------------------------------------------
    def new_worker(self, **overrides: Any) -> Worker:
        """A new worker, its own consumer-group member (one per thread);
        keyword arguments override its settings (poll_timeout_s, max_batch_s)."""
        return self.container.worker(**overrides)

    def new_relay_loop(self) -> RelayLoop:
        return self.container.relay_loop()

    def new_notification_loop(self) -> NotificationLoop:
        return self.container.notification_loop()

    # --- operations ------------------------------------------------------------
    def migrate(self) -> str:
        """Create or upgrade the configured database's schema; one line on what was done."""
        return self.container.migrate()

    def schema_state(self) -> SchemaState:
        """The configured database's schema against this release, read
        without changing anything: "current", "behind" (run `orderflow
        migrate`) or "ahead" (a newer release migrated it)."""
        return self.container.schema_state()

    def ensure_topics(self) -> str:
        """Create the broker's topics where it has any to create."""
        return self.container.ensure_topics()

    def serve_metrics(
        self,
        *,
        port: int,
        host: str,
        routes: Mapping[str, Callable[[], tuple[int, bytes]]] | None = None,
    ) -> None:
        """This process's own /metrics on HOST:PORT (worker, relay): their
        counters live in their memory, which the API's /metrics cannot see.
        `routes` adds paths beside it (path -> status and JSON body: /ready)."""
        metrics = self.metrics
        if isinstance(metrics, PrometheusMetrics):
            metrics.serve_http(port=port, host=host, routes=routes)

    def metrics_exposition(self) -> bytes:
        """The Prometheus text of this process's metrics plus the gauges read
        from shared state at scrape time (outbox backlog, consumer lag)."""
        metrics = self.metrics
        if not isinstance(metrics, PrometheusMetrics):
            return b""
        with self._scrape_gauges_lock:
            if not self._scrape_gauges_added:
                metrics.add_collector(scrape_gauges(self))
                self._scrape_gauges_added = True
        return metrics.exposition()

    def readiness_checks(self) -> dict[str, Callable[[], None]]:
        """Name -> a call that raises if that dependency does not answer (or
        that loop is down: add_readiness_check)."""
        return {
            "database": self.uow_factory.ping,
            "broker": self.publisher.ping,
            "cache": self.raw_cache.ping,
            **self._extra_checks,
        }

    def add_readiness_check(self, name: str, check: Callable[[], None]) -> None:
        """Have /ready run `check` too (the loops a process runs beside the API)."""
        self._extra_checks = {**self._extra_checks, name: check}

    def close(self) -> None:
        """Close every client the container opened (its Resources)."""
        self.container.shutdown_resources()


def scrape_gauges(app: Orderflow) -> ScrapeTimeGauges:
    """The gauges /metrics computes from shared state when it is scraped."""
    settings = app.settings

    def outbox_backlog() -> dict[tuple[str, ...], float]:
        with app.uow_factory.reading() as uow:
            return {(): float(uow.outbox.pending_count())}

    def notifications_pending() -> dict[tuple[str, ...], float]:
        return {(): float(app.notification_ledger.pending_count())}

    def consumer_lag() -> dict[tuple[str, ...], float]:
        topic = settings.orders_topic
        lag = app.lag_probe.lag(group=settings.consumer_group, topic=topic)
        return {(topic, str(partition)): float(n) for partition, n in lag.items()}

    return ScrapeTimeGauges(
        [
            GaugeSource(PREFIX + spec.name, spec.help, spec.labels, read)
            for spec, read in (
                (OUTBOX_BACKLOG, outbox_backlog),
                (NOTIFICATIONS_PENDING, notifications_pending),
                (CONSUMER_LAG, consumer_lag),
            )
        ],
        timeout_s=settings.metrics_source_timeout_s,
        ttl_s=settings.metrics_cache_s,
    )


def bootstrap(settings: Settings | None = None, **overrides: Any) -> Orderflow:
    """Build orderflow from `settings` (default: the ORDERFLOW_* environment),
    with keyword overrides of any Settings field."""
    base = settings or Settings()
    if overrides:
        base = base.model_copy(update=overrides)
        base = Settings.model_validate(base.model_dump())
    # Several server processes answering one port share one /metrics
    # (PROMETHEUS_MULTIPROC_DIR); a no-op when that is not set.
    use_multiprocess_values()
    container = Container()
    container.config.from_dict(base.as_config())
    if base.tracing_kind == "on":
        container.tracing()  # before any span: the process's tracer provider
    return Orderflow(settings=base, container=container)
