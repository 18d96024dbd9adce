"""Publishing to and consuming from a partitioned, at-least-once broker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


Partition = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One consumed message. `value` is the raw bytes as published, so a
    poison message can be dead-lettered exactly as it arrived."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    # The message's string headers (OutboxMessage.headers as published);
    # not part of a delivery's identity, which its place and offset are.
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def place(self) -> Partition:
        return (self.topic, self.partition)


class MessageConsumer(ABC):
    @abstractmethod
    def poll(self, *, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Up to `max_messages` deliveries, waiting at most `timeout_s` for the first."""

    @abstractmethod
    def commit(self, deliveries: Sequence[Delivery]) -> None:
        """Mark these deliveries consumed for the group (commit offset + 1 per
        partition). Call only after their effects are durable."""

    @abstractmethod
    def commit_with(
        self, *, messages: Sequence[OutboxMessage], deliveries: Sequence[Delivery]
    ) -> None:
        """Publish `messages` and commit `deliveries` atomically: either both
        happen or neither (on Kafka one transaction holding the sends and the
        group's offsets; readers of `messages` must read committed data only).

        This is how a consumer emits what it derived from its input: a crash
        or a failure leaves the deliveries uncommitted, so they come again and
        the messages are emitted again. Give re-emitted messages the same
        `message_id` so that downstream readers can deduplicate them.
        Raises BrokerUnavailable when nothing was committed; the caller then
        seeks back (or leaves the group) so the deliveries come again."""

    @abstractmethod
    def seek_back(self, deliveries: Sequence[Delivery]) -> None:
        """Rewind to the earliest of these deliveries per partition, so they are
        delivered again (used to pause on an outage without losing them)."""

    @abstractmethod
    def pause(self, partitions: Sequence[Partition]) -> None:
        """Stop delivering from these (topic, partition) pairs until this
        member closes: later polls return nothing of them, and nothing of
        them is committed past what was. Another member that gets them in a
        rebalance starts from the committed offset."""

    @abstractmethod
    def paused(self) -> frozenset[Partition]:
        """The (topic, partition) pairs this member paused and still holds."""

    @abstractmethod
    def assigned(self) -> frozenset[Partition]:
        """The (topic, partition) pairs the group gave this member (empty
        before it joined, or when the group has more members than partitions)."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group; uncommitted deliveries go to another member."""


class ConsumerLagProbe(ABC):
    """How far a consumer group is behind, read from the broker (not from a
    member), so a group with no live member still shows its lag."""

    @abstractmethod
    def lag(self, *, group: str, topic: str) -> dict[int, int]:
        """Per partition of `topic`: messages after the group's committed
        offset (from the start of the log where the group committed none).
        Raises BrokerUnavailable when the broker does not answer."""
