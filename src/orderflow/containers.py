"""The composition root: the one place that knows which adapter serves which
port, and which decorators wrap them. Adapters are picked by the URLs in
Settings (providers.Selector); the defaults give the embedded mode.

Every builder returns its port. Clients that must be closed (the SQL engine,
the MongoDB client, the Kafka producer, the Redis client) are Resources,
closed by `shutdown_resources()`; consumers are a Factory, because each
worker thread is its own group member and closes its own. The SMTP notifier
opens a connection per send and holds none. Technology-specific modules are
imported inside the builders, so an embedded process never imports kafka,
redis or pymongo code it does not use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Protocol, TypeVar

from dependency_injector import containers, providers

from orderflow.adapters.envelope import JsonEnvelope
from orderflow.adapters.group_commit import GroupCommit
from orderflow.adapters.id_secret import resolve_id_secret
from orderflow.adapters.lock_timing import LockTimingUnitOfWorkFactory
from orderflow.adapters.logging_notifier import LoggingNotifier
from orderflow.adapters.memory.api_keys import MemoryApiKeyStore
from orderflow.adapters.memory.broker import (
    MemoryBroker,
    MemoryConsumer,
    MemoryLagProbe,
    MemoryPublisher,
)
from orderflow.adapters.memory.cache import MemoryOrderCache
from orderflow.adapters.memory.fallback_keys import MemoryFallbackKeys
from orderflow.adapters.memory.known_prices import MemoryKnownPrices
from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.memory.outbox_signal import MemoryOutboxSignal
from orderflow.adapters.memory.topics import MemoryTopicStore
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.adapters.prometheus.metrics import PrometheusMetrics
from orderflow.adapters.remembered_api_keys import RememberedApiKeys
from orderflow.adapters.resilient_cache import ResilientOrderCache
from orderflow.adapters.ringing_unit_of_work import RingingUnitOfWorkFactory
from orderflow.adapters.system_clock import SystemClock
from orderflow.adapters.terminal_orders import TerminalOrderMemo
from orderflow.adapters.throttled_notifier import ThrottledNotifier
from orderflow.adapters.tracing.cache import TracedOrderCache
from orderflow.adapters.tracing.notifications import TracedNotifier, TraceStampingUnitOfWorkFactory
from orderflow.adapters.tracing.provider import global_tracing
from orderflow.adapters.tracing.publisher import TracedPublisher
from orderflow.application.cancelling import OrderCancellation
from orderflow.application.catalog import Catalog
from orderflow.application.identity import ApiKeys, Authenticator
from orderflow.application.messages import Topics
from orderflow.application.notifying import DeliveryPolicy, NotificationDispatcher
from orderflow.application.placing import OrderPlacement
from orderflow.application.processing import OrderProcessor
from orderflow.application.queries import OrderQueries
from orderflow.application.relaying import OutboxRelay
from orderflow.application.sweeping import StuckOrderSweeper
from orderflow.entrypoints.notifications import NotificationLoop
from orderflow.entrypoints.relay import Housekeeping, RelayLoop
from orderflow.entrypoints.worker import RetryPolicy, Worker
from orderflow.ports.api_keys import ApiKeyStore
from orderflow.ports.cache import OrderCache
from orderflow.ports.clock import Clock
from orderflow.ports.codec import MessageCodec
from orderflow.ports.customer_tokens import CustomerTokenVerifier
from orderflow.ports.fallback_keys import FallbackKeys
from orderflow.ports.messaging import ConsumerLagProbe, MessageConsumer, MessagePublisher
from orderflow.ports.metrics import Metrics
from orderflow.ports.notifier import NotificationLedger, Notifier
from orderflow.ports.outbox_signal import OutboxSignal
from orderflow.ports.placement import Placement
from orderflow.ports.prices import KnownPrices
from orderflow.ports.schema import SchemaState
from orderflow.ports.topics import TopicStore
from orderflow.ports.unit_of_work import UnitOfWorkFactory


class _Closable(Protocol):
    def close(self) -> None: ...


_Client = TypeVar("_Client", bound=_Closable)


def _closing(client: _Client) -> Iterator[_Client]:
    """A Resource's life: the client, closed by shutdown_resources()."""
    try:
        yield client
    finally:
        client.close()


def _sql_database(url: str) -> UnitOfWorkFactory:
    from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory

    return SqlUnitOfWorkFactory.from_url(url)


def _mongo_database(url: str) -> UnitOfWorkFactory:
    from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory

    return MongoUnitOfWorkFactory.from_url(url)


def _sql_ledger(uow_factory: UnitOfWorkFactory) -> NotificationLedger:
    from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger
    from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory

    assert isinstance(uow_factory, SqlUnitOfWorkFactory)
    return SqlNotificationLedger(uow_factory.engine)  # shares the factory's pool


def _mongo_ledger(uow_factory: UnitOfWorkFactory) -> NotificationLedger:
    from orderflow.adapters.mongo.notification_ledger import MongoNotificationLedger
    from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory

    assert isinstance(uow_factory, MongoUnitOfWorkFactory)
    return MongoNotificationLedger(uow_factory.store)


def _sql_api_keys(uow_factory: UnitOfWorkFactory) -> ApiKeyStore:
    from orderflow.adapters.sqlalchemy.api_keys import SqlApiKeyStore
    from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory

    assert isinstance(uow_factory, SqlUnitOfWorkFactory)
    return SqlApiKeyStore(uow_factory.engine)  # shares the factory's pool


def _mongo_api_keys(uow_factory: UnitOfWorkFactory) -> ApiKeyStore:
    from orderflow.adapters.mongo.api_keys import MongoApiKeyStore
    from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory

    assert isinstance(uow_factory, MongoUnitOfWorkFactory)
    return MongoApiKeyStore(uow_factory.store)


def _no_customer_tokens() -> CustomerTokenVerifier:
    from orderflow.adapters.pyjwt.verifier import NoCustomerTokens

    return NoCustomerTokens()


def _shared_key_tokens(key: str, issuer: str, audience: str) -> CustomerTokenVerifier:
    from orderflow.adapters.pyjwt.verifier import SharedKeyVerifier

    return SharedKeyVerifier(key, issuer=issuer or None, audience=audience or None)


def _jwks_tokens(url: str, issuer: str, audience: str) -> CustomerTokenVerifier:
    from orderflow.adapters.pyjwt.verifier import JwksVerifier

    return JwksVerifier(url, issuer=issuer, audience=audience)


def _kafka_publisher(url: str) -> MessagePublisher:
    from orderflow.adapters.kafka.publisher import KafkaPublisher

    # Transactional: each relay batch is all-or-nothing for read_committed
    # readers. The id is unique per process (two live producers with one id
    # fence each other); the intake fallback shares this publisher.
    return KafkaPublisher.from_url(url, transactional_id=f"orderflow-publisher-{uuid.uuid4().hex}")


def _kafka_consumer(url: str, group: str, topics: list[str], fetch_wait_ms: int) -> MessageConsumer:
    from orderflow.adapters.kafka.consumer import KafkaMessageConsumer

    return KafkaMessageConsumer.from_url(
        url, group=group, topics=topics, fetch_max_wait_ms=fetch_wait_ms
    )


def _kafka_lag_probe(url: str) -> ConsumerLagProbe:
    from orderflow.adapters.kafka.lag import KafkaLagProbe

    return KafkaLagProbe.from_url(url)


def _kafka_topic_store(url: str) -> TopicStore:
    from orderflow.adapters.kafka.topics import KafkaTopicStore

    return KafkaTopicStore.from_url(url)


def _redis_cache(url: str, ttl_s: int) -> OrderCache:
    from orderflow.adapters.redis.cache import RedisOrderCache

    return RedisOrderCache.from_url(url, ttl_s=ttl_s)


def _redis_outbox_signal(url: str, orders_topic: str) -> OutboxSignal:
    from orderflow.adapters.redis.outbox_signal import RedisOutboxSignal

    # One doorbell per deployment: processes sharing an orders topic share it.
    return RedisOutboxSignal.from_url(url, channel=f"orderflow:outbox:{orders_topic}")


def _smtp_notifier(url: str) -> Notifier:
    from orderflow.adapters.smtp.notifier import SmtpNotifier

    return SmtpNotifier.from_url(url)


def _webhook_notifier(url: str) -> Notifier:
    from orderflow.adapters.webhook.notifier import WebhookNotifier

    return WebhookNotifier(url)


def _sql_migrate(url: str) -> str:
    from orderflow.adapters.sqlalchemy.migrate import upgrade

    upgrade(url)
    return "SQL schema upgraded to the latest revision"


def _mongo_migrate(url: str) -> str:
    from orderflow.adapters.mongo.migrate import ensure_indexes

    ensure_indexes(url)
    return "MongoDB collections and indexes ensured"


def _sql_schema_state(url: str) -> SchemaState:
    from orderflow.adapters.sqlalchemy.migrate import schema_state

    return schema_state(url)


def _mongo_schema_state(url: str) -> SchemaState:
    from orderflow.adapters.mongo.migrate import schema_state

    return schema_state(url)


def _kafka_topics(url: str, topics: list[str], partitions: int) -> str:
    from orderflow.adapters.kafka.admin import ensure_topics

    ensure_topics(url, topics, partitions=partitions)
    return f"kafka topics ensured: {', '.join(topics)}"


def _seconds(ms: int) -> float:
    return ms / 1000.0


def _timedelta(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _sweep_every_s(interval_s: float | None, stuck_after_s: float) -> float:
    """The configured interval, else a quarter of the stuck age (at least 1 s)."""
    return interval_s or max(1.0, stuck_after_s / 4)


class Container(containers.DeclarativeContainer):
    # Every singleton is a ThreadSafeSingleton: the server's request threads
    # build the services on first use, and a plain Singleton racing there
    # builds one per thread (two engines, two group-commit leaders, two
    # generated id secrets that give one keyed order two ids).
    config = providers.Configuration(strict=True)

    # --- core ----------------------------------------------------------------
    clock: providers.Provider[Clock] = providers.ThreadSafeSingleton(SystemClock)
    metrics: providers.Provider[Metrics] = providers.ThreadSafeSingleton(PrometheusMetrics)
    topics = providers.ThreadSafeSingleton(
        Topics, orders=config.orders_topic, events=config.events_topic, dlq=config.dlq_topic
    )
    codec: providers.Provider[MessageCodec] = providers.ThreadSafeSingleton(JsonEnvelope)
    # The process's tracer provider (OTEL_TRACES_EXPORTER); flushed at close.
    tracing: providers.Provider[bool] = providers.Resource(global_tracing, config.traces_exporter)

    # --- gateways --------------------------------------------------------------
    # Called to run: `orderflow migrate` (and `serve`, which owns its SQLite
    # file); `prepare` creates the broker's topics.
    migrate: providers.Provider[str] = providers.Selector(
        config.database_kind,
        memory=providers.Object("in-memory database: nothing to migrate"),
        sql=providers.Callable(_sql_migrate, config.database_url),
        mongo=providers.Callable(_mongo_migrate, config.database_url),
    )
    # Read at the start of api, worker and relay, which never migrate.
    schema_state: providers.Provider[SchemaState] = providers.Selector(
        config.database_kind,
        memory=providers.Object("current"),
        sql=providers.Callable(_sql_schema_state, config.database_url),
        mongo=providers.Callable(_mongo_schema_state, config.database_url),
    )
    ensure_topics: providers.Provider[str] = providers.Selector(
        config.broker_kind,
        memory=providers.Object("in-process broker: no topics to create"),
        kafka=providers.Callable(
            _kafka_topics,
            config.broker_url,
            providers.List(config.orders_topic, config.events_topic, config.dlq_topic),
            config.partitions,
        ),
    )
    uow_factory: providers.Provider[UnitOfWorkFactory] = providers.Selector(
        config.database_kind,
        memory=providers.ThreadSafeSingleton(MemoryUnitOfWorkFactory),
        sql=providers.Resource(_closing, providers.Factory(_sql_database, config.database_url)),
        mongo=providers.Resource(_closing, providers.Factory(_mongo_database, config.database_url)),
    )
    notification_ledger: providers.Provider[NotificationLedger] = providers.Selector(
        config.database_kind,
        memory=providers.ThreadSafeSingleton(MemoryNotificationLedger),
        sql=providers.ThreadSafeSingleton(_sql_ledger, uow_factory),
        mongo=providers.ThreadSafeSingleton(_mongo_ledger, uow_factory),
    )
    known_prices: providers.Provider[KnownPrices] = providers.ThreadSafeSingleton(MemoryKnownPrices)
    raw_api_key_store: providers.Provider[ApiKeyStore] = providers.Selector(
        config.database_kind,
        memory=providers.ThreadSafeSingleton(MemoryApiKeyStore),
        sql=providers.ThreadSafeSingleton(_sql_api_keys, uow_factory),
        mongo=providers.ThreadSafeSingleton(_mongo_api_keys, uow_factory),
    )
    # What the services see: verified keys remembered for a few seconds, and
    # accepted for longer while the database is down (intake's fallback).
    api_key_store: providers.Provider[ApiKeyStore] = providers.ThreadSafeSingleton(
        RememberedApiKeys,
        raw_api_key_store,
        fresh_for=providers.Callable(_timedelta, config.auth_key_fresh_s),
        usable_for=providers.Callable(_timedelta, config.auth_key_outage_s),
    )
    customer_tokens: providers.Provider[CustomerTokenVerifier] = providers.Selector(
        config.auth_kind,
        none=providers.ThreadSafeSingleton(_no_customer_tokens),
        shared_key=providers.ThreadSafeSingleton(
            _shared_key_tokens, config.auth_jwt_key, config.auth_issuer, config.auth_audience
        ),
        jwks=providers.ThreadSafeSingleton(
            _jwks_tokens, config.auth_jwks_url, config.auth_issuer, config.auth_audience
        ),
    )
    id_secret = providers.ThreadSafeSingleton(
        resolve_id_secret, config.id_secret, config.database_url
    )
    # Kept in this process's memory, like the prices: a retry during an
    # outage reaches the same API process often enough (docs/DECISIONS.md).
    fallback_keys: providers.Provider[FallbackKeys] = providers.ThreadSafeSingleton(
        MemoryFallbackKeys,
        clock=clock,
        retention=providers.Callable(_hours, config.idempotency_retention_h),
    )
    memory_broker = providers.ThreadSafeSingleton(MemoryBroker, partitions=config.partitions)
    publisher: providers.Provider[MessagePublisher] = providers.Selector(
        config.broker_kind,
        memory=providers.ThreadSafeSingleton(MemoryPublisher, memory_broker),
        kafka=providers.Resource(_closing, providers.Factory(_kafka_publisher, config.broker_url)),
    )
    # A Factory: each worker thread or process is its own group member, and
    # closes its consumer when it stops.
    consumer: providers.Provider[MessageConsumer] = providers.Selector(
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
            fetch_wait_ms=config.fetch_wait_ms,
        ),
    )
    lag_probe: providers.Provider[ConsumerLagProbe] = providers.Selector(
        config.broker_kind,
        memory=providers.ThreadSafeSingleton(MemoryLagProbe, memory_broker),
        kafka=providers.ThreadSafeSingleton(_kafka_lag_probe, config.broker_url),
    )
    # Operators' access to stored records and group offsets (`orderflow dlq`).
    topic_store: providers.Provider[TopicStore] = providers.Selector(
        config.broker_kind,
        memory=providers.ThreadSafeSingleton(MemoryTopicStore, memory_broker),
        kafka=providers.ThreadSafeSingleton(_kafka_topic_store, config.broker_url),
    )
    raw_cache: providers.Provider[OrderCache] = providers.Selector(
        config.cache_kind,
        memory=providers.ThreadSafeSingleton(MemoryOrderCache, ttl_s=config.cache_ttl),
        redis=providers.Resource(
            _closing, providers.Factory(_redis_cache, config.cache_url, config.cache_ttl)
        ),
    )
    # Rung by the services that write outbox rows, waited on by the relay:
    # across processes on Redis, else within this process.
    outbox_signal: providers.Provider[OutboxSignal] = providers.Selector(
        config.cache_kind,
        memory=providers.ThreadSafeSingleton(MemoryOutboxSignal),
        redis=providers.Resource(
            _closing,
            providers.Factory(_redis_outbox_signal, config.cache_url, config.orders_topic),
        ),
    )
    ringing_uow_factory: providers.Provider[UnitOfWorkFactory] = providers.ThreadSafeSingleton(
        RingingUnitOfWorkFactory, uow_factory, outbox_signal
    )
    # What the services see: a cache fault is counted and is a miss.
    cache: providers.Provider[OrderCache] = providers.ThreadSafeSingleton(
        ResilientOrderCache, raw_cache, metrics=metrics
    )
    raw_notifier: providers.Provider[Notifier] = providers.Selector(
        config.notifier_kind,
        log=providers.ThreadSafeSingleton(LoggingNotifier),
        memory=providers.ThreadSafeSingleton(RecordingNotifier),
        smtp=providers.ThreadSafeSingleton(_smtp_notifier, config.notify_url),
        webhook=providers.ThreadSafeSingleton(_webhook_notifier, config.notify_url),
    )
    # What the dispatcher sends through: a few notifications per address
    # and window, the rest given up (adapters/throttled_notifier.py).
    notifier: providers.Provider[Notifier] = providers.ThreadSafeSingleton(
        ThrottledNotifier,
        raw_notifier,
        limit=config.notify_rate_limit,
        storage_url=config.limits_storage_url,
    )

    # With tracing on, each traced message's hop to the broker and each
    # traced order's cache write is a span (adapters/tracing).
    traced_publisher: providers.Provider[MessagePublisher] = providers.Selector(
        config.tracing_kind,
        off=publisher,
        on=providers.ThreadSafeSingleton(TracedPublisher, publisher),
    )
    traced_cache: providers.Provider[OrderCache] = providers.Selector(
        config.tracing_kind, off=cache, on=providers.ThreadSafeSingleton(TracedOrderCache, cache)
    )
    traced_notifier: providers.Provider[Notifier] = providers.Selector(
        config.tracing_kind,
        off=notifier,
        on=providers.ThreadSafeSingleton(TracedNotifier, notifier),
    )
    # The processor's: times the product-row locks
    # (orderflow_stock_lock_wait_seconds); with tracing on, its staged
    # notifications carry their order's trace context.
    lock_timed_uow_factory: providers.Provider[UnitOfWorkFactory] = providers.ThreadSafeSingleton(
        LockTimingUnitOfWorkFactory, ringing_uow_factory, metrics
    )
    processing_uow_factory: providers.Provider[UnitOfWorkFactory] = providers.Selector(
        config.tracing_kind,
        off=lock_timed_uow_factory,
        on=providers.ThreadSafeSingleton(TraceStampingUnitOfWorkFactory, lock_timed_uow_factory),
    )

    # --- services --------------------------------------------------------------
    # Intake: the use case, behind the group commit that gathers concurrent
    # callers into its batches.
    placement: providers.Provider[Placement] = providers.ThreadSafeSingleton(
        GroupCommit,
        providers.ThreadSafeSingleton(
            OrderPlacement,
            uow_factory=ringing_uow_factory,
            clock=clock,
            metrics=metrics,
            topics=topics,
            known_prices=known_prices,
            id_secret=id_secret,
            fallback_keys=fallback_keys,
            fallback_publisher=traced_publisher,
        ),
        batch_limit=uow_factory.provided.batch_limit,
    )
    # Status reads: finished orders from this process's memory first.
    queries = providers.ThreadSafeSingleton(
        OrderQueries,
        uow_factory=uow_factory,
        cache=providers.ThreadSafeSingleton(TerminalOrderMemo, cache),
    )
    cancellation = providers.ThreadSafeSingleton(
        OrderCancellation,
        uow_factory=ringing_uow_factory,
        clock=clock,
        cache=cache,
        topics=topics,
        metrics=metrics,
    )
    catalog = providers.ThreadSafeSingleton(Catalog, uow_factory=uow_factory)
    authenticator = providers.ThreadSafeSingleton(
        Authenticator, api_keys=api_key_store, customer_tokens=customer_tokens
    )
    api_keys = providers.ThreadSafeSingleton(ApiKeys, store=api_key_store, clock=clock)
    processor = providers.ThreadSafeSingleton(
        OrderProcessor,
        uow_factory=processing_uow_factory,
        clock=clock,
        cache=traced_cache,
        metrics=metrics,
        topics=topics,
        processing_delay_s=providers.Callable(_seconds, config.processing_delay_ms),
    )
    relay = providers.ThreadSafeSingleton(
        OutboxRelay,
        uow_factory=uow_factory,
        publisher=traced_publisher,
        ledger=notification_ledger,
        clock=clock,
        batch_size=config.relay_batch_size,
    )
    notification_dispatcher = providers.ThreadSafeSingleton(
        NotificationDispatcher,
        ledger=notification_ledger,
        notifier=traced_notifier,
        clock=clock,
        metrics=metrics,
        policy=providers.Factory(
            DeliveryPolicy,
            max_attempts=config.notify_max_attempts,
            initial_backoff=providers.Callable(_timedelta, config.notify_backoff_s),
        ),
    )
    sweeper = providers.ThreadSafeSingleton(
        StuckOrderSweeper, uow_factory=uow_factory, clock=clock, topics=topics
    )

    # --- loops (the drivers a process runs) ------------------------------------
    # A Factory: each worker thread is its own consumer-group member.
    worker = providers.Factory(
        Worker,
        consumer=consumer,
        processor=processor,
        codec=codec,
        clock=clock,
        metrics=metrics,
        topics=topics,
        retry=providers.Factory(
            RetryPolicy,
            attempts=config.max_attempts,
            initial_backoff_s=providers.Callable(_seconds, config.retry_backoff_ms),
        ),
        batch_size=config.worker_batch_size,
    )
    relay_loop = providers.Factory(
        RelayLoop,
        relay=relay,
        sweeper=sweeper,
        uow_factory=uow_factory,
        clock=clock,
        signal=outbox_signal,
        housekeeping=providers.Factory(
            Housekeeping,
            stuck_after=providers.Callable(_timedelta, config.stuck_after_s),
            sweep_every_s=providers.Callable(
                _sweep_every_s, config.sweep_interval_s, config.stuck_after_s
            ),
            outbox_retention=providers.Callable(_hours, config.outbox_retention_h),
            idempotency_retention=providers.Callable(_hours, config.idempotency_retention_h),
            purge_every_s=config.purge_interval_s,
        ),
        idle_wait_s=providers.Callable(_seconds, config.relay_interval_ms),
    )
    notification_loop = providers.Factory(NotificationLoop, dispatcher=notification_dispatcher)
