"""The transactional outbox: messages written in the same transaction as the
state change they announce, published later by the relay."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message for a topic. `key` keeps one order's messages in order on a
    partitioned broker; `message_id` (the event id) lets consumers deduplicate."""

    message_id: str
    topic: str
    key: str
    type_name: str
    payload: dict[str, Any]
    created_at: datetime
    seq: int | None = None  # assigned by the store; orders messages for the relay
    # Propagation headers (W3C trace context: `traceparent`, `tracestate`)
    # of the request that caused the message, carried opaquely to the
    # broker's message headers; empty when tracing is off.
    headers: Mapping[str, str] = field(default_factory=dict)


class Outbox(ABC):
    @abstractmethod
    def add(self, messages: Sequence[OutboxMessage]) -> None:
        """Stage messages in the current unit of work."""

    @abstractmethod
    def claim_batch(self, *, limit: int) -> list[OutboxMessage]:
        """Up to `limit` unpublished messages, oldest first, locked so that a
        concurrent relay skips them (SKIP LOCKED or an atomic claim)."""

    @abstractmethod
    def mark_published(self, *, seqs: Sequence[int], at: datetime) -> None:
        """Record that these messages reached the broker."""

    @abstractmethod
    def pending_count(self) -> int:
        """Messages not yet published (the outbox backlog)."""

    @abstractmethod
    def purge_published(self, *, older_than: datetime) -> int:
        """Delete published messages older than `older_than`; returns how many."""
