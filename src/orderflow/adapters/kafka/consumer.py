"""The workers' consumer: one member of a consumer group, committing by hand,
alone (commit) or in one transaction with what it emits (commit_with)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from orderflow.adapters.kafka.producing import TransactionalProducer, producer_config
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import Delivery, MessageConsumer, Partition
from orderflow.ports.outbox import OutboxMessage

log = logging.getLogger(__name__)


class KafkaMessageConsumer(MessageConsumer):
    """A KafkaConsumer subscribed to `topics` as a member of `group`.

    Offsets are committed only by commit() (enable_auto_commit off), so a
    delivery whose effect is not durable yet is delivered again after a crash
    or a rebalance. The consumer joins the group on its first poll, and is
    created again on the next poll if the broker could not be reached.

    The group timings are shorter than kafka-python's defaults: a group join
    on the Tansu test broker takes about 3 s with them instead of about 23 s,
    and a dead member's partitions move on after `session_timeout_ms`. The
    worker must call poll() at least every `max_poll_interval_ms`, or it is
    taken out of the group and its uncommitted deliveries go to another member.

    It reads committed data only (isolation_level read_committed): messages of
    a transaction that is still open are held back, and those of an aborted
    one are skipped (by a broker that reports aborted transactions; see
    docs/DECISIONS.md on Tansu, which does not).

    commit_with() runs one transaction on a transactional producer the
    consumer owns (created on first use; its transactional id is the group
    plus a random suffix, one per consumer): the sends, then the offsets with
    the consumer's group metadata, so the broker refuses the offsets of a
    member that lost its partitions in a rebalance (KIP-447), then the commit.
    `commit_timeout_s` bounds each of those steps.
    """

    def __init__(
        self,
        servers: Sequence[str],
        *,
        group: str,
        topics: Sequence[str],
        client_id: str = "orderflow-worker",
        auto_offset_reset: str = "earliest",
        connect_timeout_s: float = 5.0,
        commit_timeout_s: float = 10.0,
        max_poll_interval_ms: int = 10_000,
        session_timeout_ms: int = 6_000,
        heartbeat_interval_ms: int = 2_000,
        fetch_max_wait_ms: int = 20,
        transaction_timeout_s: float = 60.0,
    ) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        self._servers = list(servers)
        self._topics = list(topics)
        self._commit_timeout_ms = int(commit_timeout_s * 1000)
        self._config: dict[str, Any] = {
            "bootstrap_servers": self._servers,
            "client_id": client_id,
            "group_id": group,
            "enable_auto_commit": False,
            # A new group starts from the oldest message: no order is skipped.
            "auto_offset_reset": auto_offset_reset,
            "bootstrap_timeout_ms": int(connect_timeout_s * 1000),
            "max_poll_interval_ms": max_poll_interval_ms,
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            # A long fetch wait delays deliveries on Tansu (tail latency about
            # 90 ms at 500 ms, about 15 ms at 20 ms).
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "reconnect_backoff_max_ms": 1000,
            # Never act on a message of an open or aborted transaction.
            "isolation_level": "read_committed",
        }
        self._transactions = TransactionalProducer(
            producer_config(
                self._servers,
                client_id=f"{client_id}-tx",
                connect_timeout_s=connect_timeout_s,
                request_timeout_s=min(connect_timeout_s, commit_timeout_s),
                delivery_timeout_s=commit_timeout_s,
            ),
            transactional_id=f"{group}-{uuid.uuid4().hex}",
            timeout_s=commit_timeout_s,
            transaction_timeout_s=transaction_timeout_s,
        )
        self._consumer: Any = None
        self._closed = False
        self._polled: dict[tuple[str, int], tuple[int, int]] = {}

    @property
    def fetch_wait_ms(self) -> int:
        """How long the broker may hold this consumer's fetch while there is
        nothing to read (ORDERFLOW_FETCH_WAIT_MS)."""
        return int(self._config["fetch_max_wait_ms"])

    @classmethod
    def from_url(
        cls, url: str, *, group: str, topics: Sequence[str], **options: Any
    ) -> KafkaMessageConsumer:
        """From ORDERFLOW_BROKER_URL (`kafka://host:port[,host:port]`)."""
        return cls(bootstrap_servers(url), group=group, topics=topics, **options)

    def poll(self, *, max_messages: int, timeout_s: float) -> list[Delivery]:
        consumer = self._ensure_consumer()
        try:
            batches = consumer.poll(
                timeout_ms=max(0, int(timeout_s * 1000)), max_records=max_messages
            )
        except KafkaError as exc:
            raise BrokerUnavailable(f"kafka poll failed: {exc}") from exc
        self._note_positions(consumer, batches)
        return [
            Delivery(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                # Keys are order ids; a malformed one must still reach the DLQ.
                key=None if record.key is None else record.key.decode("utf-8", "replace"),
                value=b"" if record.value is None else bytes(record.value),
                headers={
                    name: bytes(value).decode("utf-8", "replace")
                    for name, value in record.headers or ()
                },
            )
            for records in batches.values()
            for record in records
        ]

    def commit(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        consumer = self._ensure_consumer()
        offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in self._commit_offsets(deliveries).items()
        }
        try:
            consumer.commit(offsets=offsets, timeout_ms=self._commit_timeout_ms)
        except KafkaError as exc:
            # Not committed: the deliveries come again (at-least-once).
            raise BrokerUnavailable(f"kafka commit failed: {exc}") from exc

    def commit_with(
        self, *, messages: Sequence[OutboxMessage], deliveries: Sequence[Delivery]
    ) -> None:
        if not messages:
            self.commit(deliveries)  # nothing to publish: a plain commit is atomic
            return
        consumer = self._ensure_consumer()
        offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in self._commit_offsets(deliveries).items()
        }
        # On failure the transaction is aborted: neither the messages nor the
        # offsets count, and the deliveries come again (BrokerUnavailable).
        self._transactions.run(
            messages,
            offsets=offsets or None,
            group_metadata=consumer.group_metadata() if offsets else None,
        )

    def _note_positions(self, consumer: Any, batches: dict[Any, list[Any]]) -> None:
        """Per partition of this poll: its last record's offset and the
        consumer's position after it, which is past any transaction markers
        that followed the record."""
        self._polled = {}
        for place, records in batches.items():
            if records:
                try:
                    position = consumer.position(place)
                except KafkaError:
                    continue
                self._polled[(place.topic, place.partition)] = (records[-1].offset, position)

    def _commit_offsets(self, deliveries: Sequence[Delivery]) -> dict[tuple[str, int], int]:
        """The offsets to commit: after the last settled delivery, or at the
        consumer's position when every record of the last poll on that
        partition is settled. A transactional producer leaves a commit marker
        after each transaction, and it takes an offset: committing just past
        the last record would leave the group one message behind on every
        partition for ever (the lag gauge would never read 0)."""
        offsets = _next_offsets(deliveries)
        for place, offset in offsets.items():
            last, position = self._polled.get(place, (-1, -1))
            if last == offset - 1 and position > offset:
                offsets[place] = position
        return offsets

    @property
    def transactional_id(self) -> str:
        return self._transactions.transactional_id

    def seek_back(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries or self._consumer is None:
            return
        for (topic, partition), offset in _first_offsets(deliveries).items():
            try:
                self._consumer.seek(TopicPartition(topic, partition), offset)
            except ValueError:
                # The partition moved to another member in a rebalance; that
                # member starts from the committed offset, so nothing is lost.
                log.info("not seeking %s[%d]: no longer assigned", topic, partition)

    def pause(self, partitions: Sequence[Partition]) -> None:
        if not partitions or self._consumer is None:
            return
        assigned = self._consumer.assignment()
        places = [TopicPartition(t, p) for t, p in partitions if TopicPartition(t, p) in assigned]
        if places:
            self._consumer.pause(*places)

    def paused(self) -> frozenset[Partition]:
        if self._consumer is None:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in self._consumer.paused())

    def assigned(self) -> frozenset[Partition]:
        if self._consumer is None:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def close(self) -> None:
        self._closed = True
        self._transactions.close()
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            consumer.close(autocommit=False, timeout_ms=self._commit_timeout_ms)
        except KafkaError as exc:
            log.warning("kafka consumer did not leave its group cleanly: %s", exc)

    def _ensure_consumer(self) -> Any:
        if self._closed:
            raise BrokerUnavailable("the consumer is closed")
        if self._consumer is None:
            try:
                consumer = KafkaConsumer(**self._config)
                consumer.subscribe(topics=self._topics, listener=_LogAssignments())
                self._consumer = consumer
            except KafkaError as exc:
                raise BrokerUnavailable(
                    f"cannot reach kafka at {','.join(self._servers)}: {exc}"
                ) from exc
        return self._consumer


class _LogAssignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs the partitions this member gets and gives up at each rebalance
    (rare): which worker holds which orders, for an operator reading the
    logs and for the fault suite, which kills a worker while it holds
    orders between T1 and T2 (tests/faults/test_1_worker_kills.py)."""

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("partitions revoked: %s", _describe(revoked))

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("partitions assigned: %s", _describe(assigned))


def _describe(places: Sequence[TopicPartition]) -> str:
    """`topic[0,3] other[1]`, or `none`."""
    by_topic: dict[str, list[int]] = {}
    for place in places:
        by_topic.setdefault(place.topic, []).append(place.partition)
    return (
        " ".join(
            f"{topic}[{','.join(map(str, sorted(ps)))}]" for topic, ps in sorted(by_topic.items())
        )
        or "none"
    )


def _next_offsets(deliveries: Sequence[Delivery]) -> dict[tuple[str, int], int]:
    """Per partition, the offset to commit: the highest delivered offset + 1."""
    offsets: dict[tuple[str, int], int] = {}
    for d in deliveries:
        place = (d.topic, d.partition)
        offsets[place] = max(offsets.get(place, 0), d.offset + 1)
    return offsets


def _first_offsets(deliveries: Sequence[Delivery]) -> dict[tuple[str, int], int]:
    """Per partition, the lowest delivered offset (where a seek back goes)."""
    offsets: dict[tuple[str, int], int] = {}
    for d in deliveries:
        place = (d.topic, d.partition)
        offsets[place] = min(offsets.get(place, d.offset), d.offset)
    return offsets
