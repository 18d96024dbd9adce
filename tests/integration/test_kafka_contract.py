"""The messaging contract against Kafka (a Tansu broker unless
ORDERFLOW_TEST_KAFKA_URL names a real one), plus what only Kafka has: topic
administration, URLs and outages of a broker that was up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient

from orderflow.adapters.kafka.admin import ensure_topics
from orderflow.adapters.kafka.consumer import KafkaMessageConsumer
from orderflow.adapters.kafka.publisher import KafkaPublisher
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import MessageConsumer, MessagePublisher
from tests.contracts.messaging_contract import (
    ConsumerFactory,
    MessagingContract,
    drain,
    message,
)
from tests.support import services
from tests.support.processes import free_port

PARTITIONS = 3
# Tansu answers a group join after about half the session timeout: 3 s at the
# adapter's default of 6 s, 2 s at 3 s. Shorter is too close to a missed
# heartbeat on a busy two-core machine.
FAST_JOIN = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 1000}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def closed_port_url() -> str:
    return f"kafka://127.0.0.1:{free_port()}"


class TestKafkaMessaging(MessagingContract):
    @pytest.fixture
    def publisher(self, kafka_url: str) -> Iterator[MessagePublisher]:
        publisher = KafkaPublisher.from_url(kafka_url)
        yield publisher
        publisher.close()

    @pytest.fixture
    def topic(self, kafka_url: str) -> str:
        name = unique("contract")
        ensure_topics(kafka_url, [name], partitions=PARTITIONS)
        return name

    @pytest.fixture
    def consumer_factory(self, kafka_url: str) -> ConsumerFactory:
        def make(*, topic: str, group: str) -> MessageConsumer:
            return KafkaMessageConsumer.from_url(
                kafka_url, group=f"{topic}-{group}", topics=[topic], **FAST_JOIN
            )

        return make

    @pytest.fixture
    def unreachable_publisher(self) -> Iterator[MessagePublisher]:
        publisher = KafkaPublisher.from_url(closed_port_url(), connect_timeout_s=0.5)
        yield publisher
        publisher.close()


def partition_count(url: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    try:
        [description] = admin.describe_topics([topic])
        return len(description["partitions"])
    finally:
        admin.close()


def test_ensure_topics_creates_each_topic_once_with_the_partitions_asked_for(
    kafka_url: str,
) -> None:
    orders, dlq = unique("orders"), unique("orders.DLQ")

    assert ensure_topics(kafka_url, [orders, dlq], partitions=4) == [orders, dlq]
    assert ensure_topics(kafka_url, [orders, dlq], partitions=4) == []
    assert ensure_topics(kafka_url, [orders], partitions=8) == []

    assert partition_count(kafka_url, orders) == 4
    assert partition_count(kafka_url, dlq) == 4


def test_ensure_topics_on_an_unreachable_broker_raises_broker_unavailable() -> None:
    with pytest.raises(BrokerUnavailable):
        ensure_topics(closed_port_url(), ["orders"], partitions=1, timeout_s=1.0)


def test_polling_an_unreachable_broker_raises_broker_unavailable() -> None:
    consumer = KafkaMessageConsumer.from_url(
        closed_port_url(), group="nobody", topics=["orders"], connect_timeout_s=0.5
    )
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        consumer.poll(max_messages=1, timeout_s=0.1)
    assert time.monotonic() - started < 5
    consumer.close()


def test_a_publisher_fails_while_its_broker_is_down_and_works_again_once_it_is_back() -> None:
    port = free_port()
    url = f"kafka://127.0.0.1:{port}"
    publisher = KafkaPublisher.from_url(
        url, connect_timeout_s=1.0, request_timeout_s=1.0, delivery_timeout_s=2.0
    )
    try:
        with services.start_kafka(port):
            publisher.publish([message("outage", "order-1", 1)])

        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            publisher.publish([message("outage", "order-1", 2)])
        assert time.monotonic() - started < 10

        with services.start_kafka(port):
            publisher.publish([message("outage", "order-1", 3)])
            consumer = KafkaMessageConsumer.from_url(
                url, group="after-outage", topics=["outage"], **FAST_JOIN
            )
            try:
                delivered = drain(consumer, 1)
            finally:
                consumer.close()
        assert [d.key for d in delivered] == ["order-1"]
    finally:
        publisher.close()


@pytest.mark.parametrize(
    ("url", "servers"),
    [
        ("kafka://127.0.0.1:9092", ["127.0.0.1:9092"]),
        ("kafka://a:9092,b:9093", ["a:9092", "b:9093"]),
        ("kafka://broker", ["broker:9092"]),
        ("kafka://[::1]:9094", ["[::1]:9094"]),
    ],
)
def test_kafka_urls_name_the_bootstrap_servers(url: str, servers: list[str]) -> None:
    assert bootstrap_servers(url) == servers


@pytest.mark.parametrize("url", ["memory://", "kafka://", "kafka://host:port", "redis://h:1"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        bootstrap_servers(url)
