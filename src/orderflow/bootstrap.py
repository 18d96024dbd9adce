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
from typing import Any

from orderflow.adapters.prometheus.metrics import (
    PREFIX,
    PrometheusMetrics,
    use_multiprocess_values,
)
from orderflow.adapters.prometheus.scrape_gauges import GaugeSource, ScrapeTimeGauges
from orderflow.application import (
    Catalog,
    OrderCancellation,
    OrderProcessor,
    OrderQueries,
    OutboxRelay,
    StuckOrderSweeper,
)
from orderflow.application.messages import Topics
from orderflow.application.notifying import NotificationDispatcher
from orderflow.config import Settings
from orderflow.containers import Container
from orderflow.entrypoints.notifications import NotificationLoop
from orderflow.entrypoints.relay import RelayLoop
from orderflow.entrypoints.worker import Worker
from orderflow.ports.cache import OrderCache
from orderflow.ports.clock import Clock
from orderflow.ports.codec import MessageCodec
from orderflow.ports.messaging import ConsumerLagProbe, MessagePublisher
from orderflow.ports.metrics import CONSUMER_LAG, NOTIFICATIONS_PENDING, OUTBOX_BACKLOG, Metrics
from orderflow.ports.notifier import NotificationLedger, Notifier
from orderflow.ports.placement import Placement
from orderflow.ports.schema import SchemaState
from orderflow.ports.topics import TopicStore
from orderflow.ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Orderflow:
    def __init__(self, settings: Settings, container: Container) -> None:
        self.settings = settings
        self.container = container
        self._scrape_gauges_lock = threading.Lock()
        self._scrape_gauges_added = False
        self._extra_checks: dict[str, Callable[[], None]] = {}

    # --- the use cases -------------------------------------------------------
    @property
    def placement(self) -> Placement:
        return self.container.placement()

    @property
    def queries(self) -> OrderQueries:
        return self.container.queries()

    @property
    def cancellation(self) -> OrderCancellation:
        return self.container.cancellation()

    @property
    def catalog(self) -> Catalog:
        return self.container.catalog()

    @property
    def processor(self) -> OrderProcessor:
        return self.container.processor()

    @property
    def relay(self) -> OutboxRelay:
        return self.container.relay()

    @property
    def sweeper(self) -> StuckOrderSweeper:
        return self.container.sweeper()

    @property
    def notification_dispatcher(self) -> NotificationDispatcher:
        return self.container.notification_dispatcher()

    # --- the ports, as composed ----------------------------------------------
    @property
    def uow_factory(self) -> UnitOfWorkFactory:
        return self.container.uow_factory()

    @property
    def publisher(self) -> MessagePublisher:
        return self.container.publisher()

    @property
    def cache(self) -> OrderCache:
        """The cache as the services see it: faults counted, never raised."""
        return self.container.cache()

    @property
    def raw_cache(self) -> OrderCache:
        return self.container.raw_cache()

    @property
    def notifier(self) -> Notifier:
        return self.container.notifier()

    @property
    def notification_ledger(self) -> NotificationLedger:
        return self.container.notification_ledger()

    @property
    def lag_probe(self) -> ConsumerLagProbe:
        return self.container.lag_probe()

    @property
    def topic_store(self) -> TopicStore:
        return self.container.topic_store()

    @property
    def metrics(self) -> Metrics:
        return self.container.metrics()

    @property
    def clock(self) -> Clock:
        return self.container.clock()

    @property
    def codec(self) -> MessageCodec:
        return self.container.codec()

    @property
    def topics(self) -> Topics:
        return self.container.topics()

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
        with app.uow_factory() as uow:
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
    return Orderflow(settings=base, container=container)
