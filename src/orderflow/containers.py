"""The composition root: the one place that knows which adapter serves which
port. Adapters are picked by the URLs in Settings (providers.Selector); the
defaults give the embedded mode. Technology-specific modules are imported
lazily, inside the builder functions, so an embedded process never imports
kafka, redis or pymongo code it does not use."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers

from orderflow.adapters.logging_notifier import LoggingNotifier
from orderflow.adapters.memory.broker import (
    MemoryBroker,
    MemoryConsumer,
    MemoryLagProbe,
    MemoryPublisher,
)
from orderflow.adapters.memory.cache import MemoryOrderCache
from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.memory.topics import MemoryTopicStore
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.adapters.prometheus.metrics import PrometheusMetrics
from orderflow.adapters.system_clock import SystemClock
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
from orderflow.domain.services.lock_timing import LockTimingUnitOfWorkFactory
from orderflow.domain.services.notifying import DeliveryPolicy, NotificationDispatcher


def _sql_uow_factory(url: str) -> Any:
    from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory

    return SqlUnitOfWorkFactory.from_url(url)


def _mongo_uow_factory(url: str) -> Any:
    from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory

    return MongoUnitOfWorkFactory.from_url(url)


def _sql_ledger(uow_factory: Any) -> Any:
    from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger

    return SqlNotificationLedger(uow_factory.engine)  # shares the factory's pool


def _mongo_ledger(uow_factory: Any) -> Any:
    from orderflow.adapters.mongo.notification_ledger import MongoNotificationLedger

    return MongoNotificationLedger(uow_factory.store)


def _kafka_publisher(url: str) -> Any:
    from orderflow.adapters.kafka.publisher import KafkaPublisher

    # Transactional: each relay batch is all-or-nothing for read_committed
    # readers. The id is unique per process (two live producers with one id
    # fence each other); the intake fallback shares this publisher.
    return KafkaPublisher.from_url(url, transactional_id=f"orderflow-publisher-{uuid.uuid4().hex}")


def _kafka_consumer(url: str, group: str, topics: list[str]) -> Any:
    from orderflow.adapters.kafka.consumer import KafkaMessageConsumer

    return KafkaMessageConsumer.from_url(url, group=group, topics=topics)


def _kafka_lag_probe(url: str) -> Any:
    from orderflow.adapters.kafka.lag import KafkaLagProbe

    return KafkaLagProbe.from_url(url)


def _kafka_topic_store(url: str) -> Any:
    from orderflow.adapters.kafka.topics import KafkaTopicStore

    return KafkaTopicStore.from_url(url)


def _redis_cache(url: str, ttl_s: int) -> Any:
    from orderflow.adapters.redis.cache import RedisOrderCache

    return RedisOrderCache.from_url(url, ttl_s=ttl_s)


def _smtp_notifier(url: str) -> Any:
    from orderflow.adapters.smtp.notifier import SmtpNotifier

    return SmtpNotifier.from_url(url)


def _webhook_notifier(url: str) -> Any:
    from orderflow.adapters.webhook.notifier import WebhookNotifier

    return WebhookNotifier(url)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # --- core ----------------------------------------------------------------
    clock = providers.Singleton(SystemClock)
    metrics = providers.Singleton(PrometheusMetrics)
    topics = providers.Singleton(
        Topics, orders=config.orders_topic, events=config.events_topic, dlq=config.dlq_topic
    )

    # --- gateways --------------------------------------------------------------
    uow_factory = providers.Selector(
        config.database_kind,
        memory=providers.Singleton(MemoryUnitOfWorkFactory),
        sql=providers.Singleton(_sql_uow_factory, config.database_url),
        mongo=providers.Singleton(_mongo_uow_factory, config.database_url),
    )
    notification_ledger = providers.Selector(
        config.database_kind,
        memory=providers.Singleton(MemoryNotificationLedger),
        sql=providers.Singleton(_sql_ledger, uow_factory),
        mongo=providers.Singleton(_mongo_ledger, uow_factory),
    )
    memory_broker = providers.Singleton(MemoryBroker, partitions=config.partitions)
    publisher = providers.Selector(
        config.broker_kind,
        memory=providers.Singleton(MemoryPublisher, memory_broker),
        kafka=providers.Singleton(_kafka_publisher, config.broker_url),
    )
    # A Factory: each worker thread or process gets its own group member.
    consumer = providers.Selector(
        config.broker_kind,
        memory=providers.Factory(
            MemoryConsumer,
            memory_broker,
            group=config.consumer_group,
            topics=providers.List(config.orders_topic),
        ),
        kafka=providers.Factory(
            _kafka_consumer,
            config.broker_url,
            group=config.consumer_group,
            topics=providers.List(config.orders_topic),
        ),
    )
    lag_probe = providers.Selector(
        config.broker_kind,
        memory=providers.Singleton(MemoryLagProbe, memory_broker),
        kafka=providers.Singleton(_kafka_lag_probe, config.broker_url),
    )
    # Operators' access to stored records and group offsets (`orderflow dlq`).
    topic_store = providers.Selector(
        config.broker_kind,
        memory=providers.Singleton(MemoryTopicStore, memory_broker),
        kafka=providers.Singleton(_kafka_topic_store, config.broker_url),
    )
    raw_cache = providers.Selector(
        config.cache_kind,
        memory=providers.Singleton(MemoryOrderCache, ttl_s=config.cache_ttl),
        redis=providers.Singleton(_redis_cache, config.cache_url, config.cache_ttl),
    )
    cache = providers.Singleton(BestEffortCache, cache=raw_cache, metrics=metrics)
    notifier = providers.Selector(
        config.notifier_kind,
        log=providers.Singleton(LoggingNotifier),
        memory=providers.Singleton(RecordingNotifier),
        smtp=providers.Singleton(_smtp_notifier, config.notify_url),
        webhook=providers.Singleton(_webhook_notifier, config.notify_url),
    )

    # --- services --------------------------------------------------------------
    placement = providers.Singleton(
        OrderPlacement,
        uow_factory=uow_factory,
        clock=clock,
        metrics=metrics,
        topics=topics,
        fallback_publisher=publisher,
    )
    queries = providers.Singleton(OrderQueries, uow_factory=uow_factory, cache=cache)
    cancellation = providers.Singleton(
        OrderCancellation,
        uow_factory=uow_factory,
        clock=clock,
        cache=cache,
        topics=topics,
        metrics=metrics,
    )
    catalog = providers.Singleton(Catalog, uow_factory=uow_factory)
    processor = providers.Singleton(
        OrderProcessor,
        # Times the product-row locks of T2 (orderflow_stock_lock_wait_seconds).
        uow_factory=providers.Singleton(LockTimingUnitOfWorkFactory, uow_factory, metrics),
        clock=clock,
        cache=cache,
        metrics=metrics,
        topics=topics,
        processing_delay_s=providers.Callable(lambda ms: ms / 1000.0, config.processing_delay_ms),
    )
    relay = providers.Singleton(
        OutboxRelay,
        uow_factory=uow_factory,
        publisher=publisher,
        ledger=notification_ledger,
        clock=clock,
        topics=topics,
        batch_size=config.relay_batch_size,
    )
    notification_dispatcher = providers.Singleton(
        NotificationDispatcher,
        ledger=notification_ledger,
        notifier=notifier,
        clock=clock,
        metrics=metrics,
        policy=providers.Factory(
            DeliveryPolicy,
            max_attempts=config.notify_max_attempts,
            initial_backoff=providers.Callable(
                lambda s: timedelta(seconds=s), config.notify_backoff_s
            ),
        ),
    )
    sweeper = providers.Singleton(
        StuckOrderSweeper, uow_factory=uow_factory, clock=clock, topics=topics
    )
