"""The composition root: the one place that knows which adapter serves which
port. Adapters are picked by the URLs in Settings (providers.Selector); the
defaults give the embedded mode. Technology-specific modules are imported
lazily, inside the builder functions, so an embedded process never imports
kafka, redis or pymongo code it does not use."""

from __future__ import annotations

import uuid
from typing import Any

from dependency_injector import containers, providers

from orderflow.adapters.logging_notifier import LoggingNotifier
from orderflow.adapters.memory.broker import MemoryBroker, MemoryConsumer, MemoryPublisher
from orderflow.adapters.memory.cache import MemoryOrderCache
from orderflow.adapters.memory.notifier import RecordingNotifier
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


def _sql_uow_factory(url: str) -> Any:
    from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory

    return SqlUnitOfWorkFactory.from_url(url)


def _mongo_uow_factory(url: str) -> Any:
    from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory

    return MongoUnitOfWorkFactory.from_url(url)


def _kafka_publisher(url: str) -> Any:
    from orderflow.adapters.kafka.publisher import KafkaPublisher

    # Transactional: each relay batch is all-or-nothing for read_committed
    # readers. The id is unique per process (two live producers with one id
    # fence each other); the intake fallback shares this publisher.
    return KafkaPublisher.from_url(url, transactional_id=f"orderflow-publisher-{uuid.uuid4().hex}")


def _kafka_consumer(url: str, group: str, topics: list[str]) -> Any:
    from orderflow.adapters.kafka.consumer import KafkaMessageConsumer

    return KafkaMessageConsumer.from_url(url, group=group, topics=topics)


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
        OrderCancellation, uow_factory=uow_factory, clock=clock, cache=cache, topics=topics
    )
    catalog = providers.Singleton(Catalog, uow_factory=uow_factory)
    processor = providers.Singleton(
        OrderProcessor,
        uow_factory=uow_factory,
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
        notifier=notifier,
        clock=clock,
        topics=topics,
        batch_size=config.relay_batch_size,
    )
    sweeper = providers.Singleton(
        StuckOrderSweeper, uow_factory=uow_factory, clock=clock, topics=topics
    )
