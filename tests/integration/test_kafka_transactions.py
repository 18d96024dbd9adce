"""Kafka transactions on a real broker (a Tansu broker unless
ORDERFLOW_TEST_KAFKA_URL names another): the relay's batches are
all-or-nothing, and the worker's commit_with publishes its messages and
commits its offsets in one transaction.

What a failure looks like is injected at one place, the commit of the
transaction (a subclass of TransactionalProducer, the adapters' own
transaction runner): everything before it (sends, offsets) really reached
the broker inside the open transaction, which is then really aborted.

Tansu 0.6 sends no aborted-transaction index in its fetch responses, so a
read_committed consumer cannot skip an aborted transaction's records there:
it receives them once the transaction is aborted (a still-open transaction's
records it does hold back). The tests of that one property are expected to
fail on Tansu (strict: they report when Tansu starts to pass them) and must
pass on real Kafka; everything else is asserted on both."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

import orderflow
from orderflow.adapters.envelope import decode, encode
from orderflow.adapters.kafka.admin import ensure_topics
from orderflow.adapters.kafka.consumer import KafkaMessageConsumer
from orderflow.adapters.kafka.producing import TransactionalProducer, producer_config
from orderflow.adapters.kafka.publisher import KafkaPublisher
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable
from orderflow.domain.events import OrderCompleted, OrderProcessingStarted
from orderflow.domain.model import OrderStatus, Product
from orderflow.ports.messaging import Delivery
from orderflow.ports.outbox import OutboxMessage
from tests.contracts.messaging_contract import drain, message, quiet
from tests.support import services
from tests.support.processes import Service, free_port
from tests.unit.conftest import place_command

PARTITIONS = 3
FAST_JOIN: dict[str, Any] = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 1000}
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def is_tansu(kafka_url: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(kafka_url))
    try:
        return bool(admin.describe_cluster()["cluster_id"] == "tansu_cluster")
    finally:
        admin.close()


@pytest.fixture
def aborted_records_filtered(is_tansu: bool, request: pytest.FixtureRequest) -> None:
    """Marks a test that needs the broker to filter aborted transactions."""
    if is_tansu:
        request.applymarker(
            pytest.mark.xfail(
                reason="Tansu 0.6 reports no aborted transactions in fetch responses, "
                "so read_committed consumers receive aborted records",
                strict=True,
            )
        )


@pytest.fixture
def topic(kafka_url: str) -> str:
    name = unique("tx")
    ensure_topics(kafka_url, [name], partitions=PARTITIONS)
    return name


@pytest.fixture
def events_topic(kafka_url: str) -> str:
    name = unique("tx-events")
    ensure_topics(kafka_url, [name], partitions=PARTITIONS)
    return name


class Reader:
    """A read_committed reader of whole topics, outside any group (it joins
    nothing, so it reads at once), for watching what the adapters wrote."""

    def __init__(self, url: str, topic: str, *, partitions: int = PARTITIONS) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers(url),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=20,
        )
        places = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer.assign(places)
        self._consumer.seek_to_beginning(*places)

    def read(self, *, at_least: int = 0, for_s: float = 1.5) -> list[bytes]:
        """Everything visible: waits for `at_least` records, then `for_s` more
        to catch any record that should not be there."""
        got: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(got) < at_least and time.monotonic() < deadline:
            got += self._poll()
        settle = time.monotonic() + for_s
        while time.monotonic() < settle:
            got += self._poll()
        return got

    def _poll(self) -> list[bytes]:
        batches = self._consumer.poll(timeout_ms=100)
        return [bytes(r.value) for records in batches.values() for r in records]

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def reader(kafka_url: str) -> Iterator[Callable[[str], Reader]]:
    readers: list[Reader] = []

    def open_(topic: str) -> Reader:
        readers.append(Reader(kafka_url, topic))
        return readers[-1]

    yield open_
    for each in readers:
        each.close()


def committed_offsets(
    url: str, group: str, topic: str, *, partitions: int = PARTITIONS
) -> dict[int, int | None]:
    """The group's committed offset per partition, read without joining it."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers(url), group_id=group, enable_auto_commit=False
    )
    try:
        return {
            p: consumer.committed(TopicPartition(topic, p), timeout_ms=10_000)
            for p in range(partitions)
        }
    finally:
        consumer.close()


class FailsAtCommit(TransactionalProducer):
    """Runs every step of the transaction on the broker, then fails where the
    commit would be; `before_commit` sees the transaction still open. The
    commit runs on the producer's step thread: the injected error is the one
    that thread hands back to the caller."""

    def __init__(self, *args: Any, before_commit: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_commit = before_commit
        self.fail = True

    def _commit(self, producer: Any) -> None:
        # The commit is what flushes the sends (TransactionalProducer.run):
        # put them on the broker first, as a process that dies between its
        # sends and its commit would have, so the open or aborted
        # transaction holds records.
        producer.flush(timeout=10)
        self.before_commit()
        if self.fail:
            raise KafkaError("the process died before the commit (injected)")
        super()._commit(producer)


class FaultyPublisher(KafkaPublisher):
    def __init__(self, url: str, before_commit: Callable[[], None]) -> None:
        super().__init__(bootstrap_servers(url), transactional_id=unique("faulty-publisher"))
        assert self._transactions is not None
        self._transactions = FailsAtCommit(
            self._config,
            transactional_id=self._transactions.transactional_id,
            timeout_s=10.0,
            before_commit=before_commit,
        )

    @property
    def faults(self) -> FailsAtCommit:
        assert isinstance(self._transactions, FailsAtCommit)
        return self._transactions


class FaultyConsumer(KafkaMessageConsumer):
    def __init__(
        self, url: str, *, group: str, topic: str, before_commit: Callable[[], None]
    ) -> None:
        super().__init__(bootstrap_servers(url), group=group, topics=[topic], **FAST_JOIN)
        self._transactions = FailsAtCommit(
            self._transactions._config,
            transactional_id=self._transactions.transactional_id,
            timeout_s=10.0,
            before_commit=before_commit,
        )

    @property
    def faults(self) -> FailsAtCommit:
        assert isinstance(self._transactions, FailsAtCommit)
        return self._transactions


def publish(url: str, messages: Sequence[OutboxMessage]) -> None:
    publisher = KafkaPublisher.from_url(url)
    try:
        publisher.publish(messages)
    finally:
        publisher.close()


def batch(topic: str, count: int) -> list[OutboxMessage]:
    return [message(topic, f"order-{n % 4}", n) for n in range(count)]


def status_message(topic: str, key: str) -> OutboxMessage:
    return OutboxMessage(
        message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"test/{key}")),
        topic=topic,
        key=key,
        type_name="OrderCompleted",
        payload={"order_id": key, "total": "1.00", "occurred_at": T0.isoformat()},
        created_at=T0,
    )


# --- (a) the relay's publisher: one transaction per batch ----------------------


def test_a_read_committed_consumer_sees_every_message_of_a_committed_batch(
    kafka_url: str, topic: str
) -> None:
    publisher = KafkaPublisher.from_url(kafka_url, transactional_id=unique("publisher"))
    consumer = KafkaMessageConsumer.from_url(
        kafka_url, group=unique("readers"), topics=[topic], **FAST_JOIN
    )
    sent = batch(topic, 20)
    try:
        publisher.publish(sent[:12])
        publisher.publish(sent[12:])
        delivered = drain(consumer, len(sent))
    finally:
        publisher.close()
        consumer.close()

    assert sorted(d.value for d in delivered) == sorted(encode(m) for m in sent)
    for key in {m.key for m in sent}:
        in_order = [d.value for d in sorted(delivered, key=lambda d: d.offset) if d.key == key]
        assert in_order == [encode(m) for m in sent if m.key == key]


def test_a_batch_is_held_back_until_its_transaction_commits(
    kafka_url: str, topic: str, reader: Callable[[str], Reader]
) -> None:
    watcher = reader(topic)
    seen_while_open: list[bytes] = []
    publisher = FaultyPublisher(
        kafka_url, before_commit=lambda: seen_while_open.extend(watcher.read())
    )
    publisher.faults.fail = False
    sent = batch(topic, 8)
    try:
        publisher.publish(sent)
    finally:
        publisher.close()

    assert seen_while_open == []
    assert sorted(watcher.read(at_least=len(sent))) == sorted(encode(m) for m in sent)


def test_a_failed_batch_raises_broker_unavailable_and_the_next_batch_goes_through(
    kafka_url: str, topic: str, reader: Callable[[str], Reader]
) -> None:
    watcher = reader(topic)
    publisher = FaultyPublisher(kafka_url, before_commit=lambda: None)
    failed, retried = batch(topic, 6), batch(topic, 6)
    try:
        with pytest.raises(BrokerUnavailable, match="injected"):
            publisher.publish(failed)
        publisher.faults.fail = False
        publisher.publish(retried)  # the same producer goes on after an abort
    finally:
        publisher.close()

    seen = watcher.read(at_least=len(retried))
    assert {encode(m) for m in retried} <= set(seen)


@pytest.mark.usefixtures("aborted_records_filtered")
def test_read_committed_consumers_never_see_an_aborted_batch(
    kafka_url: str, topic: str, reader: Callable[[str], Reader]
) -> None:
    watcher = reader(topic)
    publisher = FaultyPublisher(kafka_url, before_commit=lambda: None)
    aborted, committed = batch(topic, 6), batch(topic, 2)
    try:
        with pytest.raises(BrokerUnavailable):
            publisher.publish(aborted)
        publisher.faults.fail = False
        publisher.publish(committed)
    finally:
        publisher.close()

    seen = watcher.read(at_least=len(committed))
    assert sorted(seen) == sorted(encode(m) for m in committed)


# --- (b) commit_with: the consumer's messages and offsets together --------------


def consume_all(consumer: KafkaMessageConsumer, count: int) -> list[Delivery]:
    deliveries = drain(consumer, count)
    assert len(deliveries) == count
    return deliveries


def test_commit_with_moves_the_offsets_and_publishes_the_messages_together(
    kafka_url: str, topic: str, events_topic: str, reader: Callable[[str], Reader]
) -> None:
    group = unique("workers")
    sent = batch(topic, 9)
    publish(kafka_url, sent)
    watcher = reader(events_topic)
    consumer = KafkaMessageConsumer.from_url(kafka_url, group=group, topics=[topic], **FAST_JOIN)
    try:
        deliveries = consume_all(consumer, len(sent))
        emitted = [status_message(events_topic, f"order-{n}") for n in range(4)]

        consumer.commit_with(messages=emitted, deliveries=deliveries)

        assert sorted(watcher.read(at_least=len(emitted))) == sorted(encode(m) for m in emitted)
    finally:
        consumer.close()
    committed = committed_offsets(kafka_url, group, topic)
    for partition in range(PARTITIONS):
        highest = [d.offset for d in deliveries if d.partition == partition]
        assert committed[partition] == (max(highest) + 1 if highest else None)
    again = KafkaMessageConsumer.from_url(kafka_url, group=group, topics=[topic], **FAST_JOIN)
    try:
        assert quiet(again, for_s=3.0) == [], "a new member finds everything committed"
    finally:
        again.close()


def test_a_failed_commit_with_commits_no_offsets_and_the_deliveries_come_again(
    kafka_url: str, topic: str, events_topic: str, reader: Callable[[str], Reader]
) -> None:
    group = unique("workers")
    sent = batch(topic, 9)
    publish(kafka_url, sent)
    watcher = reader(events_topic)
    seen_while_open: list[bytes] = []
    offsets_while_open: dict[int, int | None] = {}

    def look() -> None:
        seen_while_open.extend(watcher.read())
        offsets_while_open.update(committed_offsets(kafka_url, group, topic))

    consumer = FaultyConsumer(kafka_url, group=group, topic=topic, before_commit=look)
    try:
        deliveries = consume_all(consumer, len(sent))
        emitted = [status_message(events_topic, f"order-{n}") for n in range(4)]
        with pytest.raises(BrokerUnavailable, match="injected"):
            consumer.commit_with(messages=emitted, deliveries=deliveries)
    finally:
        consumer.close()

    assert seen_while_open == [], "an open transaction's messages are held back"
    assert set(offsets_while_open.values()) == {None}, "its offsets too"
    assert set(committed_offsets(kafka_url, group, topic).values()) == {None}
    again = KafkaMessageConsumer.from_url(kafka_url, group=group, topics=[topic], **FAST_JOIN)
    try:
        redelivered = consume_all(again, len(sent))
    finally:
        again.close()
    assert sorted(d.value for d in redelivered) == sorted(encode(m) for m in sent)


@pytest.mark.usefixtures("aborted_records_filtered")
def test_a_failed_commit_with_publishes_nothing_a_read_committed_reader_sees(
    kafka_url: str, topic: str, events_topic: str, reader: Callable[[str], Reader]
) -> None:
    publish(kafka_url, batch(topic, 3))
    watcher = reader(events_topic)
    consumer = FaultyConsumer(
        kafka_url, group=unique("workers"), topic=topic, before_commit=lambda: None
    )
    try:
        deliveries = consume_all(consumer, 3)
        with pytest.raises(BrokerUnavailable):
            consumer.commit_with(
                messages=[status_message(events_topic, "order-1")], deliveries=deliveries
            )
    finally:
        consumer.close()

    assert watcher.read(for_s=3.0) == []


# --- the worker on Kafka ------------------------------------------------------------


def status_events(values: Sequence[bytes]) -> list[OrderCompleted]:
    return [e for e in map(decode, values) if isinstance(e, OrderCompleted)]


def test_the_worker_emits_each_status_event_with_its_offsets_on_kafka(
    kafka_url: str, reader: Callable[[str], Reader]
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics: dict[str, Any] = {
        "orders_topic": f"orders-{suffix}",
        "events_topic": f"order-events-{suffix}",
        "dlq_topic": f"orders-{suffix}.DLQ",
    }
    ensure_topics(kafka_url, list(topics.values()), partitions=PARTITIONS)
    app = orderflow.bootstrap(
        database_url="memory://",
        broker_url=kafka_url,
        notify_url="memory://",
        consumer_group=f"workers-{suffix}",
        **topics,
    )
    watcher = reader(topics["events_topic"])
    try:
        app.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("19.90"), 10)])
        ids = [str(app.placement.place(place_command(("mouse", 1))).order["id"]) for _ in range(3)]
        assert app.relay.drain_once() == 3  # one transaction
        worker = app.new_worker(poll_timeout_s=0.2)
        try:
            deadline = time.monotonic() + 30
            handled = 0
            while handled < len(ids) and time.monotonic() < deadline:
                handled += worker.run_once()
        finally:
            worker.close()
        assert all(app.queries.get(i).status is OrderStatus.COMPLETED for i in ids)
        assert app.catalog.get("mouse").stock == 7
    finally:
        app.close()

    # Each order's OrderProcessingStarted then its OrderCompleted, both the worker's.
    values = watcher.read(at_least=2 * len(ids))
    events = status_events(values)
    assert sorted(e.order_id for e in events) == sorted(ids)
    assert len({e.event_id for e in events}) == len(ids)
    for order_id in ids:
        mine = [e for e in map(decode, values) if e.order_id == order_id]
        assert [type(e) for e in mine] == [OrderProcessingStarted, OrderCompleted]
    assert set(committed_offsets(kafka_url, f"workers-{suffix}", topics["orders_topic"]).values())


# --- outages: every transactional wait is bounded --------------------------------


def test_a_transactional_publisher_fails_in_bounded_time_while_its_broker_is_down() -> None:
    port = free_port()
    url = f"kafka://127.0.0.1:{port}"
    publisher = KafkaPublisher.from_url(
        url,
        connect_timeout_s=1.0,
        request_timeout_s=1.0,
        delivery_timeout_s=2.0,
        transactional_id=unique("outage"),
    )
    try:
        with services.start_kafka(port):
            ensure_topics(url, ["outage"], partitions=PARTITIONS)
            publisher.publish([message("outage", "order-1", 1)])

        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            publisher.publish([message("outage", "order-1", 2)])
        assert time.monotonic() - started < 10

        with services.start_kafka(port):  # an empty broker: memory storage
            ensure_topics(url, ["outage"], partitions=PARTITIONS)
            after = message("outage", "order-1", 3)
            publisher.publish([after])  # a new producer with the same transactional id
            watcher = Reader(url, "outage")
            try:
                seen = watcher.read(at_least=1)
            finally:
                watcher.close()
        assert seen == [encode(after)]
    finally:
        publisher.close()


def test_commit_with_fails_in_bounded_time_while_the_broker_is_down() -> None:
    port = free_port()
    url = f"kafka://127.0.0.1:{port}"
    consumer = KafkaMessageConsumer.from_url(
        url,
        group="outage",
        topics=["outage-in"],
        connect_timeout_s=1.0,
        commit_timeout_s=1.0,
        **FAST_JOIN,
    )
    try:
        with services.start_kafka(port):
            ensure_topics(url, ["outage-in", "outage-out"], partitions=PARTITIONS)
            publish(url, [message("outage-in", "order-1", 1)])
            deliveries = consume_all(consumer, 1)

        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            consumer.commit_with(
                messages=[status_message("outage-out", "order-1")], deliveries=deliveries
            )
        assert time.monotonic() - started < 10
    finally:
        consumer.close()


@contextmanager
def frozen(broker: Service) -> Iterator[None]:
    """The broker stops answering (SIGSTOP): its connections stay open and
    nothing is answered, as with a hung broker or a network partition."""
    assert broker.process is not None and broker.process.poll() is None
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)


def test_a_commit_waiting_past_its_timeout_on_a_frozen_broker_raises_in_about_that_time() -> None:
    port = free_port()
    url = f"kafka://127.0.0.1:{port}"
    step_timeout_s = 2.0
    # Nothing of kafka-python's own gives up before the step timeout: only
    # the deadline ends the commit's wait.
    config = producer_config(
        bootstrap_servers(url),
        client_id="frozen",
        connect_timeout_s=5.0,
        request_timeout_s=30.0,
        delivery_timeout_s=60.0,
    )
    transactions = TransactionalProducer(
        config, transactional_id=unique("frozen"), timeout_s=step_timeout_s
    )
    before, during, after = (message("frozen", "order-1", n) for n in (1, 2, 3))
    with services.start_kafka(port) as broker:
        ensure_topics(url, ["frozen"], partitions=PARTITIONS)
        watcher = Reader(url, "frozen")
        try:
            transactions.run([before])
            with frozen(broker):
                started = time.monotonic()
                with pytest.raises(BrokerUnavailable, match="took longer than 2 s"):
                    transactions.run([during])
                took = time.monotonic() - started
            # The broker answers again: a new producer with the same
            # transactional id fences the one left waiting, and commits.
            transactions.run([after])
            seen = watcher.read(at_least=2)
        finally:
            transactions.close()
            watcher.close()

    assert step_timeout_s <= took < step_timeout_s + 1.0
    assert {encode(before), encode(after)} <= set(seen)


def test_commit_with_on_a_frozen_broker_raises_in_about_its_timeout_and_commits_after() -> None:
    port = free_port()
    url = f"kafka://127.0.0.1:{port}"
    commit_timeout_s = 2.0
    group = unique("frozen")
    consumer = KafkaMessageConsumer.from_url(
        url,
        group=group,
        topics=["frozen-in"],
        connect_timeout_s=1.0,
        commit_timeout_s=commit_timeout_s,
        **FAST_JOIN,
    )
    emitted = [status_message("frozen-out", f"order-{n}") for n in range(2)]
    with services.start_kafka(port) as broker:
        ensure_topics(url, ["frozen-in", "frozen-out"], partitions=1)
        watcher = Reader(url, "frozen-out", partitions=1)
        try:
            publish(url, [message("frozen-in", "order-0", 0)])
            consumer.commit_with(messages=emitted[:1], deliveries=consume_all(consumer, 1))
            publish(url, [message("frozen-in", "order-1", 1)])
            deliveries = consume_all(consumer, 1)
            with frozen(broker):
                started = time.monotonic()
                with pytest.raises(BrokerUnavailable):
                    consumer.commit_with(messages=emitted[1:], deliveries=deliveries)
                took = time.monotonic() - started
            # As the worker does after a failed commit: back to the
            # deliveries, and again once the broker answers.
            consumer.seek_back(deliveries)
            consumer.commit_with(messages=emitted[1:], deliveries=consume_all(consumer, 1))
            seen = watcher.read(at_least=2)
        finally:
            consumer.close()
            watcher.close()
        committed = committed_offsets(url, group, "frozen-in", partitions=1)

    # kafka-python may fail the offsets itself (a timed-out request is fatal
    # to its transaction manager) before the deadline; then an abort of at
    # most one request (1 s here) may follow.
    assert took < commit_timeout_s + 1.5
    assert {encode(m) for m in emitted} <= set(seen)
    assert committed[0] is not None and committed[0] >= 2
