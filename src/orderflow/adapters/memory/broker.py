"""An in-process, partitioned, at-least-once broker with consumer groups.

It behaves like the Kafka topics the production mode uses, so the worker code
is the same: messages are partitioned by key, each group has committed
offsets, uncommitted deliveries are delivered again after a rebalance or a
seek, and members of one group share the partitions. It keeps nothing across
restarts; embedded mode relies on the durable outbox and the startup sweep.

`commit_with` appends and commits under the broker's one lock, so readers
never see the messages without the offsets having moved, nor the reverse.
`close()` shuts the broker down: from then on every call raises
BrokerUnavailable, as a closed connection to a real broker would."""

from __future__ import annotations

import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence

from orderflow.adapters.envelope import encode
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import (
    ConsumerLagProbe,
    Delivery,
    MessageConsumer,
    MessagePublisher,
    Partition,
)
from orderflow.ports.outbox import OutboxMessage

# (topic, key, value, headers): one message as appended.
Record = tuple[str, str | None, bytes, Mapping[str, str]]


class MemoryBroker:
    def __init__(self, *, partitions: int = 4) -> None:
        self.partitions = partitions
        self._cond = threading.Condition()
        self._logs: dict[tuple[str, int], list[tuple[str | None, bytes, Mapping[str, str]]]] = (
            defaultdict(list)
        )
        self._committed: dict[tuple[str, str, int], int] = {}
        self._members: dict[str, list[MemoryConsumer]] = defaultdict(list)
        self._closed = False

    # --- life -----------------------------------------------------------------

    def close(self) -> None:
        """Shut down: every later call raises BrokerUnavailable, and consumers
        waiting in a poll wake up to it."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def ping(self) -> None:
        with self._cond:
            self._check_open()

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable("the in-process broker is closed")

    # --- producing --------------------------------------------------------

    def partition_for(self, key: str | None) -> int:
        return 0 if key is None else zlib.crc32(key.encode()) % self.partitions

    def append(self, topic: str, key: str | None, value: bytes) -> None:
        self.append_all([(topic, key, value, {})])

    def append_all(self, records: Sequence[Record]) -> None:
        """Append (topic, key, value, headers) records, all or none."""
        with self._cond:
            self._append_locked(records)

    def commit_with(
        self,
        group: str,
        records: Sequence[Record],
        offsets: dict[tuple[str, int], int],
    ) -> None:
        """Append `records` and commit `offsets` for `group` in one step."""
        with self._cond:
            self._append_locked(records)
            for (topic, partition), offset in offsets.items():
                self._commit_locked(group, topic, partition, offset)

    def _append_locked(self, records: Sequence[Record]) -> None:
        self._check_open()
        for topic, key, value, headers in records:
            self._logs[(topic, self.partition_for(key))].append((key, value, headers))
        if records:
            self._cond.notify_all()

    def messages(self, topic: str) -> list[bytes]:
        """Every message ever appended to the topic (for tests and `dlq list`)."""
        with self._cond:
            self._check_open()
            return [
                value
                for partition in range(self.partitions)
                for _, value, _ in self._logs.get((topic, partition), [])
            ]

    def records(self, topic: str, partition: int) -> list[tuple[str | None, bytes]]:
        """The (key, value) records of one partition, by offset."""
        with self._cond:
            self._check_open()
            return [(key, value) for key, value, _ in self._logs.get((topic, partition), [])]

    # --- groups -------------------------------------------------------------

    def join(self, consumer: MemoryConsumer) -> None:
        with self._cond:
            self._check_open()
            self._members[consumer.group].append(consumer)
            self._rebalance(consumer.group)

    def leave(self, consumer: MemoryConsumer) -> None:
        with self._cond:
            members = self._members[consumer.group]
            if consumer in members:
                members.remove(consumer)
                self._rebalance(consumer.group)

    def _rebalance(self, group: str) -> None:
        members = self._members[group]
        for member in members:
            member.assignment = {}
            # As on Kafka, a partition given out again is no longer paused.
            member.paused_places = set()
        for index, (topic, partition) in enumerate(
            (topic, partition)
            for topic in sorted({t for m in members for t in m.topics})
            for partition in range(self.partitions)
        ):
            candidates = [m for m in members if topic in m.topics]
            owner = candidates[index % len(candidates)]
            # A new owner starts at the committed offset: whatever the last
            # owner polled but did not commit is delivered again.
            owner.assignment[(topic, partition)] = self._committed.get((group, topic, partition), 0)

    def seek(self, consumer: MemoryConsumer, offsets: dict[Partition, int]) -> None:
        with self._cond:
            for place, offset in offsets.items():
                if place in consumer.assignment:
                    consumer.assignment[place] = offset

    def pause(self, consumer: MemoryConsumer, places: Sequence[Partition]) -> None:
        with self._cond:
            consumer.paused_places |= set(places) & consumer.assignment.keys()

    def paused(self, consumer: MemoryConsumer) -> frozenset[Partition]:
        with self._cond:
            return frozenset(consumer.paused_places & consumer.assignment.keys())

    def assigned(self, consumer: MemoryConsumer) -> frozenset[Partition]:
        with self._cond:
            return frozenset(consumer.assignment)

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        with self._cond:
            self._check_open()
            self._commit_locked(group, topic, partition, offset)

    def _commit_locked(self, group: str, topic: str, partition: int, offset: int) -> None:
        key = (group, topic, partition)
        self._committed[key] = max(self._committed.get(key, 0), offset)

    def committed(self, group: str, topic: str, partition: int) -> int:
        with self._cond:
            self._check_open()
            return self._committed.get((group, topic, partition), 0)

    def lag(self, group: str, topic: str) -> int:
        return sum(self.lag_by_partition(group, topic).values())

    def lag_by_partition(self, group: str, topic: str) -> dict[int, int]:
        with self._cond:
            self._check_open()
            return {
                p: len(self._logs.get((topic, p), [])) - self._committed.get((group, topic, p), 0)
                for p in range(self.partitions)
            }

    def fetch(
        self, consumer: MemoryConsumer, max_messages: int, timeout_s: float
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                self._check_open()
                out: list[Delivery] = []
                for (topic, partition), position in sorted(consumer.assignment.items()):
                    if (topic, partition) in consumer.paused_places:
                        continue
                    log = self._logs.get((topic, partition), [])
                    while position < len(log) and len(out) < max_messages:
                        key, value, headers = log[position]
                        out.append(Delivery(topic, partition, position, key, value, headers))
                        position += 1
                    consumer.assignment[(topic, partition)] = position
                if out:
                    return out
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)


class MemoryLagProbe(ConsumerLagProbe):
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    def lag(self, *, group: str, topic: str) -> dict[int, int]:
        return self._broker.lag_by_partition(group, topic)


class MemoryPublisher(MessagePublisher):
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        self._broker.append_all(_records(messages))

    def ping(self) -> None:
        self._broker.ping()


class MemoryConsumer(MessageConsumer):
    def __init__(self, broker: MemoryBroker, *, group: str, topics: Sequence[str]) -> None:
        self._broker = broker
        self.group = group
        self.topics = tuple(topics)
        self.assignment: dict[tuple[str, int], int] = {}
        self.paused_places: set[Partition] = set()
        broker.join(self)

    def poll(self, *, max_messages: int, timeout_s: float) -> list[Delivery]:
        return self._broker.fetch(self, max_messages, timeout_s)

    def commit(self, deliveries: Sequence[Delivery]) -> None:
        for (topic, partition), offset in _next_offsets(deliveries, highest=True).items():
            self._broker.commit(self.group, topic, partition, offset)

    def commit_with(
        self, *, messages: Sequence[OutboxMessage], deliveries: Sequence[Delivery]
    ) -> None:
        self._broker.commit_with(
            self.group,
            _records(messages),
            _next_offsets(deliveries, highest=True),
        )

    def seek_back(self, deliveries: Sequence[Delivery]) -> None:
        self._broker.seek(self, _next_offsets(deliveries, highest=False))

    def pause(self, partitions: Sequence[Partition]) -> None:
        self._broker.pause(self, partitions)

    def paused(self) -> frozenset[Partition]:
        return self._broker.paused(self)

    def assigned(self) -> frozenset[Partition]:
        return self._broker.assigned(self)

    def close(self) -> None:
        self._broker.leave(self)


def _records(messages: Sequence[OutboxMessage]) -> list[Record]:
    return [(m.topic, m.key, encode(m), m.headers) for m in messages]


def _next_offsets(deliveries: Sequence[Delivery], *, highest: bool) -> dict[tuple[str, int], int]:
    """Per partition: the offset to commit (last + 1) or to seek back to (first)."""
    offsets: dict[tuple[str, int], int] = {}
    for d in deliveries:
        place = (d.topic, d.partition)
        if highest:
            offsets[place] = max(offsets.get(place, 0), d.offset + 1)
        else:
            offsets[place] = min(offsets.get(place, d.offset), d.offset)
    return offsets
