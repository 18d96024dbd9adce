"""Reading a topic as stored and moving a group's offsets: what an operator's
tool (`orderflow dlq`) needs beyond publishing and consuming."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record of a topic: where it is, and its raw key and value."""

    partition: int
    offset: int
    key: str | None
    value: bytes


class TopicStore(ABC):
    @abstractmethod
    def read(self, topic: str, *, group: str) -> list[StoredRecord]:
        """Every committed record of `topic` past `group`'s committed offset
        (from the start where it has none), by partition then offset. Does
        not move the group's offsets."""

    @abstractmethod
    def append(self, topic: str, records: Sequence[tuple[str | None, bytes]]) -> None:
        """Publish (key, raw value) records durably, byte for byte."""

    @abstractmethod
    def advance(self, topic: str, *, group: str, offsets: Mapping[int, int]) -> None:
        """Commit `group`'s offset of each partition (the next record it will
        read). The group must have no live members. Never moves an offset back."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections."""
