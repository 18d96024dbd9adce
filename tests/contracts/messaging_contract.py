"""The contract of MessagePublisher and MessageConsumer (orderflow.ports.messaging).

A subclass supplies four fixtures:

- `publisher`: a MessagePublisher on a reachable broker;
- `topic`: the name of a topic no other test uses (several partitions where
  the broker has them);
- `consumer_factory`: a callable `(topic=..., group=...) -> MessageConsumer`
  making a new member of that consumer group, reading from the oldest
  uncommitted message;
- `unreachable_publisher`: a MessagePublisher whose broker cannot be reached.

Deliveries are awaited with a generous deadline (`drain`), because joining a
consumer group takes seconds on a real broker.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

import pytest

from orderflow.adapters.envelope import encode
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import Delivery, MessageConsumer, MessagePublisher
from orderflow.ports.outbox import OutboxMessage

DELIVERY_DEADLINE_S = 30.0
UNAVAILABLE_DEADLINE_S = 15.0


class ConsumerFactory(Protocol):
    def __call__(self, *, topic: str, group: str) -> MessageConsumer: ...


def message(topic: str, key: str, seq: int) -> OutboxMessage:
    return OutboxMessage(
        message_id=str(uuid.uuid4()),
        topic=topic,
        key=key,
        type_name="OrderPlaced",
        payload={"order_id": key, "seq": seq, "note": "ünïcode survives"},
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def drain(
    consumer: MessageConsumer, count: int, *, deadline_s: float = DELIVERY_DEADLINE_S
) -> list[Delivery]:
    """Poll until `count` deliveries arrived (or the deadline passed)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + deadline_s
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(max_messages=count - len(got), timeout_s=0.5)
    return got


def quiet(consumer: MessageConsumer, *, for_s: float = 1.0) -> list[Delivery]:
    """Whatever arrives within `for_s` (expected: nothing)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        got += consumer.poll(max_messages=100, timeout_s=0.2)
    return got


class MessagingContract:
    # --- fixtures a subclass supplies ------------------------------------------

    @pytest.fixture
    def publisher(self) -> MessagePublisher:
        raise NotImplementedError("the adapter's suite supplies `publisher`")

    @pytest.fixture
    def topic(self) -> str:
        raise NotImplementedError("the adapter's suite supplies `topic`")

    @pytest.fixture
    def consumer_factory(self) -> ConsumerFactory:
        raise NotImplementedError("the adapter's suite supplies `consumer_factory`")

    @pytest.fixture
    def unreachable_publisher(self) -> MessagePublisher:
        raise NotImplementedError("the adapter's suite supplies `unreachable_publisher`")

    # --- helpers ------------------------------------------------------------------

    @pytest.fixture
    def open_consumer(
        self, consumer_factory: ConsumerFactory, topic: str
    ) -> Iterator[Callable[[str], MessageConsumer]]:
        """A new member of `group` on the test's topic, closed after the test."""
        opened: list[MessageConsumer] = []

        def open_(group: str) -> MessageConsumer:
            consumer = consumer_factory(topic=topic, group=group)
            opened.append(consumer)
            return consumer

        yield open_
        for consumer in opened:
            consumer.close()

    # --- the contract -----------------------------------------------------------

    def test_a_consumer_gets_the_exact_envelope_bytes_that_were_published(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        sent = message(topic, "order-1", 1)
        publisher.publish([sent])

        [delivery] = drain(open_consumer("exact"), 1)

        assert delivery.value == encode(sent)
        assert delivery.key == "order-1"
        assert delivery.topic == topic

    def test_a_consumer_gets_the_headers_each_message_was_published_with(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        context = {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "vendor=ünïcode",
        }
        traced = dataclasses.replace(message(topic, "order-1", 1), headers=context)
        publisher.publish([traced, message(topic, "order-1", 2)])

        deliveries = drain(open_consumer("headers"), 2)

        assert [dict(d.headers) for d in deliveries] == [context, {}]

    def test_messages_with_the_same_key_arrive_in_the_order_they_were_published(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        keys = [f"order-{n}" for n in range(4)]
        sent = [message(topic, key, seq) for seq in range(10) for key in keys]
        publisher.publish(sent[:20])
        publisher.publish(sent[20:])

        deliveries = drain(open_consumer("ordering"), len(sent))

        assert sorted(d.value for d in deliveries) == sorted(encode(m) for m in sent)
        by_key: dict[str | None, list[bytes]] = defaultdict(list)
        partitions: dict[str | None, set[int]] = defaultdict(set)
        for d in deliveries:
            by_key[d.key].append(d.value)
            partitions[d.key].add(d.partition)
        for key in keys:
            assert by_key[key] == [encode(m) for m in sent if m.key == key]
            assert len(partitions[key]) == 1, "one key, one partition"

    def test_a_new_member_gets_what_was_not_committed_and_nothing_that_was(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        sent = [message(topic, f"order-{n % 4}", n) for n in range(16)]
        publisher.publish(sent)
        first = open_consumer("commits")
        deliveries = drain(first, len(sent))
        assert len(deliveries) == len(sent)

        per_partition: dict[tuple[str, int], list[Delivery]] = defaultdict(list)
        for d in deliveries:
            per_partition[(d.topic, d.partition)].append(d)
        committed: list[Delivery] = []
        for in_partition in per_partition.values():
            in_partition.sort(key=lambda d: d.offset)
            committed += in_partition[: len(in_partition) // 2]
        assert committed, "16 messages over 4 keys fill at least one partition"
        first.commit(committed)
        first.close()

        expected = {d.value for d in deliveries} - {d.value for d in committed}
        second = open_consumer("commits")
        redelivered = drain(second, len(expected))

        assert {d.value for d in redelivered} == expected
        assert quiet(second) == []

    def test_seek_back_delivers_the_same_messages_again(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        sent = [message(topic, "order-1", n) for n in range(5)]
        publisher.publish(sent)
        consumer = open_consumer("seeks")
        deliveries = drain(consumer, len(sent))
        assert [d.value for d in deliveries] == [encode(m) for m in sent]

        consumer.seek_back(deliveries[2:])
        again = drain(consumer, 3)

        assert [d.value for d in again] == [encode(m) for m in sent[2:]]
        assert [d.offset for d in again] == [d.offset for d in deliveries[2:]]

    def test_a_paused_partition_delivers_nothing_more_and_the_others_keep_flowing(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        keys = [f"order-{n}" for n in range(8)]
        publisher.publish([message(topic, key, 0) for key in keys])
        consumer = open_consumer("pauses")
        first = drain(consumer, len(keys))
        assert len(first) == len(keys)
        assert {d.place for d in first} <= consumer.assigned()
        stopped = first[0]
        stopped_keys = {d.key for d in first if d.place == stopped.place}

        consumer.seek_back([d for d in first if d.place == stopped.place])
        consumer.pause([stopped.place])
        publisher.publish([message(topic, key, 1) for key in keys])
        flowing = [key for key in keys if key not in stopped_keys]
        later = drain(consumer, len(flowing))

        assert consumer.paused() == {stopped.place}
        assert sorted(d.key or "" for d in later) == sorted(flowing)
        assert all(d.place != stopped.place for d in later)
        assert quiet(consumer) == []

    def test_a_paused_partition_comes_again_to_the_next_member_from_its_commit(
        self,
        publisher: MessagePublisher,
        topic: str,
        open_consumer: Callable[[str], MessageConsumer],
    ) -> None:
        sent = [message(topic, "order-1", n) for n in range(3)]
        publisher.publish(sent)
        first = open_consumer("resumes")
        deliveries = drain(first, len(sent))
        first.commit(deliveries[:1])
        first.seek_back(deliveries[1:])
        first.pause([deliveries[0].place])
        assert quiet(first, for_s=0.5) == []
        first.close()

        again = drain(open_consumer("resumes"), 2)

        assert [d.value for d in again] == [encode(m) for m in sent[1:]]

    def test_a_new_member_has_nothing_paused(
        self, open_consumer: Callable[[str], MessageConsumer]
    ) -> None:
        consumer = open_consumer("fresh")
        assert consumer.paused() == frozenset()

    def test_publishing_nothing_does_nothing(self, publisher: MessagePublisher) -> None:
        publisher.publish([])

    def test_a_reachable_broker_answers_ping(self, publisher: MessagePublisher) -> None:
        publisher.ping()

    def test_publishing_to_an_unreachable_broker_raises_broker_unavailable(
        self, unreachable_publisher: MessagePublisher
    ) -> None:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            unreachable_publisher.publish([message("orders", "order-1", 1)])
        assert time.monotonic() - started < UNAVAILABLE_DEADLINE_S

    def test_an_unreachable_broker_fails_ping(
        self, unreachable_publisher: MessagePublisher
    ) -> None:
        with pytest.raises(BrokerUnavailable):
            unreachable_publisher.ping()
