"""Publishing to and consuming from a partitioned, at-least-once broker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from orderflow.ports.outbox import OutboxMessage


class MessagePublisher(ABC):
    @abstractmethod
    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Send every message durably (acks from the broker) before returning,
        in order per key. Raises BrokerUnavailable if any could not be sent."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Flush and release connections."""

    def ping(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise BrokerUnavailable if the broker does not answer."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One consumed message. `value` is the raw bytes as published, so a
    poison message can be dead-lettered exactly as it arrived."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes


class MessageConsumer(ABC):
    @abstractmethod
    def poll(self, *, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Up to `max_messages` deliveries, waiting at most `timeout_s` for the first."""

    @abstractmethod
    def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Mark these deliveries consumed for the group (commit offset + 1 per
        partition). Call only after their effects are durable."""

    @abstractmethod
    def seek_back(self, deliveries: Sequence[Delivery]) -> None:
        """Rewind to the earliest of these deliveries per partition, so they are
        delivered again (used to pause on an outage without losing them)."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group; uncommitted deliveries go to another member."""
