"""`orderflow dlq list|replay|purge`: the operator's view of the dead-letter
topic (ORDERFLOW_DLQ_TOPIC). Each record there is a DeadLetter envelope
(entrypoints/dead_letters.py) holding the original bytes, the error, the
attempt count and the time.

- list: the records not purged yet, oldest first per partition.
- replay: publish the original bytes again, unchanged and with their
  original key, to the orders topic. Safe at any time: processing is
  idempotent (an order already finished is left as it is), and a message
  that still cannot be processed is dead-lettered again. Replaying does not
  purge: purge what was replayed once it is done.
- purge: drop records from the list. The DLQ topic is append-only (brokers
  that delete records by offset are not universal, Tansu does not), so purge
  moves the offsets of a consumer group of its own, `<consumer group>.dlq`,
  past them; `list` and `replay --all` read from that group's offsets. The
  bytes stay on the broker until its retention deletes them. A purge is a
  prefix of each partition: purging offset N of a partition drops every
  record of that partition up to N."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orderflow.application.messages import Topics
from orderflow.entrypoints.dead_letters import DEAD_LETTER_TYPE, original_value
from orderflow.ports.topics import StoredRecord, TopicStore

GROUP_SUFFIX = ".dlq"


def dlq_group(consumer_group: str) -> str:
    """The consumer group whose offsets mark what was purged."""
    return f"{consumer_group}{GROUP_SUFFIX}"


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    partition: int  # where the record is on the DLQ topic
    offset: int
    key: str | None  # the original message's key (an order id)
    error: str
    attempts: int | None
    failed_at: str | None
    source: dict[str, Any] | None  # topic, partition, offset the message came from
    original: bytes  # the message exactly as it was consumed

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at,
            "source": self.source,
            "original_b64": base64.b64encode(self.original).decode(),
            "original_text": self.original.decode("utf-8", "replace"),
        }


def parse(record: StoredRecord) -> DeadLetterEntry:
    """A DLQ record as an entry; a record that is not a dead letter (someone
    else wrote to the topic) is listed as such, with its bytes as the original."""
    try:
        envelope = json.loads(record.value)
        if envelope.get("type") != DEAD_LETTER_TYPE:
            raise ValueError(f"type {envelope.get('type')!r}")
        data = envelope["data"]
        source = data.get("source") or {}
        return DeadLetterEntry(
            partition=record.partition,
            offset=record.offset,
            key=source.get("key", record.key),
            error=str(data.get("error", "")),
            attempts=data.get("attempts"),
            failed_at=data.get("failed_at"),
            source=source or None,
            original=original_value(data),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        return DeadLetterEntry(
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            error=f"not a dead-letter record: {exc}",
            attempts=None,
            failed_at=None,
            source=None,
            original=record.value,
        )


class DeadLetterQueue:
    def __init__(self, store: TopicStore, *, topics: Topics, group: str) -> None:
        self._store = store
        self._topics = topics
        self._group = group

    def entries(self) -> list[DeadLetterEntry]:
        return [parse(r) for r in self._store.read(self._topics.dlq, group=self._group)]

    @staticmethod
    def select(
        entries: Iterable[DeadLetterEntry],
        *,
        positions: Iterable[tuple[int, int]] = (),
        keys: Iterable[str] = (),
    ) -> list[DeadLetterEntry]:
        """The entries at these DLQ positions or with these keys."""
        wanted_positions, wanted_keys = set(positions), set(keys)
        return [
            e
            for e in entries
            if (e.partition, e.offset) in wanted_positions or e.key in wanted_keys
        ]

    def replay(self, entries: Iterable[DeadLetterEntry]) -> int:
        """Publish each entry's original bytes to the orders topic; how many."""
        records = [(e.key, e.original) for e in entries]
        self._store.append(self._topics.orders, records)
        return len(records)

    def purge(self, through: dict[int, int] | None = None) -> int:
        """Drop every listed record (through=None), or those of each given
        partition up to and including the given offset; how many."""
        entries = self.entries()
        if through is None:
            through = {}
            for e in entries:
                through[e.partition] = max(through.get(e.partition, -1), e.offset)
        dropped = [e for e in entries if e.offset <= through.get(e.partition, -1)]
        self._store.advance(
            self._topics.dlq, group=self._group, offsets={p: o + 1 for p, o in through.items()}
        )
        return len(dropped)


def position(text: str) -> tuple[int, int]:
    """'PARTITION:OFFSET' -> (partition, offset)."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"expected PARTITION:OFFSET, got {text!r}")
    return int(partition), int(offset)


def table(entries: Iterable[DeadLetterEntry]) -> str:
    """One line per entry, for people."""
    rows = [("POSITION", "KEY", "ATTEMPTS", "FAILED AT", "ERROR")] + [
        (
            e.position,
            e.key or "-",
            "-" if e.attempts is None else str(e.attempts),
            e.failed_at or "-",
            e.error if len(e.error) <= 80 else e.error[:77] + "...",
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    )
