"""Where each kind of message goes, and the outbox rows that carry events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orderflow.domain.events import Event, OrderPlaced
from orderflow.ports.outbox import OutboxMessage


@dataclass(frozen=True, slots=True)
class Topics:
    """The broker topics each kind of message goes to. (Notifications travel
    in the outbox on a pseudo-topic of their own, NOTIFICATIONS_TOPIC, which
    the relay hands to the notification ledger instead.)"""

    orders: str = "orders"
    events: str = "order-events"
    dlq: str = "orders.DLQ"

    def for_event(self, event: Event) -> str:
        return self.orders if isinstance(event, OrderPlaced) else self.events


def to_outbox(
    events: Iterable[Event], *, topics: Topics, headers: Mapping[str, str] | None = None
) -> list[OutboxMessage]:
    """The events as outbox messages, each carrying `headers` (the trace
    context of the request that caused them, if any)."""
    return [
        OutboxMessage(
            message_id=event.event_id,
            topic=topics.for_event(event),
            key=event.order_id,
            type_name=event.type_name,
            payload=event.to_dict(),
            created_at=event.occurred_at,
            headers=headers or {},
        )
        for event in events
    ]
