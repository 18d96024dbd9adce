"""TopicStore over the in-process broker (tests and the embedded mode)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.ports.topics import StoredRecord, TopicStore


class MemoryTopicStore(TopicStore):
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    def read(self, topic: str, *, group: str) -> list[StoredRecord]:
        return [
            StoredRecord(partition, offset, key, value)
            for partition in range(self._broker.partitions)
            for offset, (key, value) in enumerate(self._broker.records(topic, partition))
            if offset >= self._broker.committed(group, topic, partition)
        ]

    def append(self, topic: str, records: Sequence[tuple[str | None, bytes]]) -> None:
        self._broker.append_all([(topic, key, value, {}) for key, value in records])

    def advance(self, topic: str, *, group: str, offsets: Mapping[int, int]) -> None:
        for partition, offset in offsets.items():
            self._broker.commit(group, topic, partition, offset)
