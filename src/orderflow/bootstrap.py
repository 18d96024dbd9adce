"""The library entry point: build orderflow's services from a configuration.

    import orderflow

    app = orderflow.bootstrap()                      # ORDERFLOW_* env vars
    app = orderflow.bootstrap(database_url="sqlite:///shop.db")   # overrides
    result = app.placement.place(command)
    order = app.queries.get(order_id)
    app.close()

`Orderflow` exposes the services (ports-only domain objects) plus the few
adapters a host process needs to run the background loops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from orderflow.adapters.prometheus.metrics import PrometheusMetrics
from orderflow.adapters.prometheus.scrape_gauges import GaugeSource, ScrapeTimeGauges
from orderflow.config import Settings
from orderflow.containers import Container
from orderflow.domain.envelope import Topics
from orderflow.domain.services import (
    Catalog,
    OrderCancellation,
    OrderPlacement,
    OrderProcessor,
    OrderQueries,
    OutboxRelay,
    StuckOrderSweeper,
)
from orderflow.domain.services.caching import BestEffortCache
from orderflow.domain.services.notifying import NotificationDispatcher
from orderflow.ports.cache import OrderCache
from orderflow.ports.messaging import ConsumerLagProbe, MessageConsumer, MessagePublisher
from orderflow.ports.metrics import Metrics
from orderflow.ports.notifier import NotificationLedger, Notifier
from orderflow.ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass
class Orderflow:
    settings: Settings
    container: Container
    closers: list[Callable[[], None]] = field(default_factory=list)
    _owned: list[Any] = field(default_factory=list, repr=False)
    _scrape_gauges_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _scrape_gauges_added: bool = field(default=False, repr=False)

    # Services. Each property resolves a container Singleton, so a service
    # and its adapters are built only when first used.
    @property
    def placement(self) -> OrderPlacement:
        return cast(OrderPlacement, self._get("placement"))

    @property
    def queries(self) -> OrderQueries:
        return cast(OrderQueries, self._get("queries"))

    @property
    def cancellation(self) -> OrderCancellation:
        return cast(OrderCancellation, self._get("cancellation"))

    @property
    def catalog(self) -> Catalog:
        return cast(Catalog, self._get("catalog"))

    @property
    def processor(self) -> OrderProcessor:
        return cast(OrderProcessor, self._get("processor"))

    @property
    def relay(self) -> OutboxRelay:
        return cast(OutboxRelay, self._get("relay"))

    @property
    def sweeper(self) -> StuckOrderSweeper:
        return cast(StuckOrderSweeper, self._get("sweeper"))

    # Adapters the entrypoints need directly.
    @property
    def uow_factory(self) -> UnitOfWorkFactory:
        return cast(UnitOfWorkFactory, self._get("uow_factory"))

    @property
    def publisher(self) -> MessagePublisher:
        return cast(MessagePublisher, self._get("publisher"))

    @property
    def cache(self) -> BestEffortCache:
        return cast(BestEffortCache, self._get("cache"))

    @property
    def raw_cache(self) -> OrderCache:
        return cast(OrderCache, self._get("raw_cache"))

    @property
    def notifier(self) -> Notifier:
        return cast(Notifier, self._get("notifier"))

    @property
    def metrics(self) -> Metrics:
        return cast(Metrics, self._get("metrics"))

    @property
    def topics(self) -> Topics:
        return cast(Topics, self._get("topics"))

    def new_consumer(self) -> MessageConsumer:
        """A new member of the worker consumer group (one per worker thread)."""
        consumer: MessageConsumer = self.container.consumer()
        return consumer

    @property
    def notification_ledger(self) -> NotificationLedger:
        return cast(NotificationLedger, self._get("notification_ledger"))

    @property
    def notification_dispatcher(self) -> NotificationDispatcher:
        return cast(NotificationDispatcher, self._get("notification_dispatcher"))

    @property
    def lag_probe(self) -> ConsumerLagProbe:
        return cast(ConsumerLagProbe, self._get("lag_probe"))

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
        """Name -> a call that raises if that dependency does not answer."""
        return {
            "database": self.uow_factory.ping,
            "broker": self.publisher.ping,
            "cache": self.raw_cache.ping,
        }

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:  # closing must go on past one failure
                log.exception("error while closing")
        self.closers.clear()
        self.container.shutdown_resources()

    def _get(self, name: str) -> Any:
        instance = getattr(self.container, name)()
        # Pools and producers must be closed with the app; remember each once.
        if name in ("uow_factory", "publisher") and all(c is not instance for c in self._owned):
            self._owned.append(instance)
            self.closers.append(instance.close)
        return instance


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
            GaugeSource(
                "orderflow_outbox_backlog",
                "Outbox messages not yet published (read from the database)",
                (),
                outbox_backlog,
            ),
            GaugeSource(
                "orderflow_notifications_pending",
                "Customer notifications not sent yet (read from the database)",
                (),
                notifications_pending,
            ),
            GaugeSource(
                "orderflow_consumer_lag",
                "Orders-topic messages the worker group has not committed, per partition",
                ("topic", "partition"),
                consumer_lag,
            ),
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
    container = Container()
    container.config.from_dict(base.as_config())
    return Orderflow(settings=base, container=container)
