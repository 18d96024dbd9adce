"""TopicStore on Kafka: reads a topic with a group-less consumer (assigned
partitions, read committed), appends with an idempotent producer, and moves
a group's offsets through the admin API (OffsetCommit for an empty group)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, NoError
from kafka.structs import OffsetAndMetadata

from orderflow.adapters.kafka.producing import producer_config
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.topics import StoredRecord, TopicStore


class KafkaTopicStore(TopicStore):
    def __init__(self, servers: Sequence[str], *, timeout_s: float = 10.0) -> None:
        self._servers = list(servers)
        self._timeout_s = timeout_s

    @classmethod
    def from_url(cls, url: str, **options: Any) -> KafkaTopicStore:
        return cls(bootstrap_servers(url), **options)

    def read(self, topic: str, *, group: str) -> list[StoredRecord]:
        committed = self._committed(topic, group)
        with self._translated(f"read {topic}"):
            consumer = KafkaConsumer(
                bootstrap_servers=self._servers,
                enable_auto_commit=False,
                isolation_level="read_committed",
                bootstrap_timeout_ms=self._ms,
                request_timeout_ms=max(self._ms, 1000),
            )
            try:
                return self._read_all(consumer, topic, committed)
            finally:
                consumer.close()

    def _read_all(self, consumer: Any, topic: str, committed: dict[int, int]) -> list[StoredRecord]:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        for tp in partitions:
            if tp.partition in committed:
                consumer.seek(tp, committed[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
        # Read committed: the end is the last stable offset, so an open
        # transaction's records are neither read nor waited for.
        end = consumer.end_offsets(partitions)
        records: list[StoredRecord] = []
        deadline = time.monotonic() + self._timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"reading {topic} did not reach its end in time")
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(
                    StoredRecord(
                        r.partition,
                        r.offset,
                        None if r.key is None else r.key.decode("utf-8", "replace"),
                        b"" if r.value is None else bytes(r.value),
                    )
                    for r in batch
                )
        return sorted(records, key=lambda r: (r.partition, r.offset))

    def append(self, topic: str, records: Sequence[tuple[str | None, bytes]]) -> None:
        if not records:
            return
        config = producer_config(
            self._servers,
            client_id="orderflow-topics",
            connect_timeout_s=self._timeout_s,
            request_timeout_s=self._timeout_s,
            delivery_timeout_s=self._timeout_s,
        )
        with self._translated(f"append to {topic}"):
            producer = KafkaProducer(**config)
            try:
                futures = [
                    producer.send(topic, key=None if key is None else key.encode(), value=value)
                    for key, value in records
                ]
                producer.flush(self._timeout_s)
                for future in futures:
                    future.get(self._timeout_s)
            finally:
                producer.close(self._timeout_s)

    def advance(self, topic: str, *, group: str, offsets: Mapping[int, int]) -> None:
        current = self._committed(topic, group)
        wanted = {
            TopicPartition(topic, p): OffsetAndMetadata(max(o, current.get(p, 0)), "", -1)
            for p, o in offsets.items()
        }
        if not wanted:
            return
        with self._admin() as admin, self._translated(f"commit {group} offsets"):
            errors = admin.alter_group_offsets(group, wanted)
        failed = {tp.partition: e.__name__ for tp, e in errors.items() if e is not NoError}
        if failed:
            raise BrokerUnavailable(f"could not move {group}'s offsets on {topic}: {failed}")

    def _committed(self, topic: str, group: str) -> dict[int, int]:
        with self._admin() as admin, self._translated(f"fetch {group} offsets"):
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0
        }

    @property
    def _ms(self) -> int:
        return int(self._timeout_s * 1000)

    @contextmanager
    def _admin(self) -> Iterator[Any]:
        with self._translated("connect"):
            admin = KafkaAdminClient(
                bootstrap_servers=self._servers,
                client_id="orderflow-topics",
                bootstrap_timeout_ms=self._ms,
                request_timeout_ms=self._ms,
            )
        try:
            yield admin
        finally:
            admin.close()

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except KafkaError as exc:
            raise BrokerUnavailable(f"kafka: cannot {what}: {exc}") from exc
