"""The wire format of every message on the broker: a JSON envelope.

    {"type": "OrderPlaced", "schema_version": 1, "event_id": "...",
     "occurred_at": "...", "key": "<order id>", "data": {...event fields...}}

Decoding failures are PermanentMessageError: such a message goes to the DLQ."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orderflow.domain.errors import PermanentMessageError
from orderflow.domain.events import SCHEMA_VERSION, Event, OrderPlaced, event_from_dict
from orderflow.ports.outbox import OutboxMessage


@dataclass(frozen=True, slots=True)
class Topics:
    """Where each kind of message goes. `notifications` is not a broker topic:
    the relay hands those outbox rows to the Notifier instead."""

    orders: str = "orders"
    events: str = "order-events"
    dlq: str = "orders.DLQ"
    notifications: str = "notifications"

    def for_event(self, event: Event) -> str:
        return self.orders if isinstance(event, OrderPlaced) else self.events


def to_outbox(events: Iterable[Event], *, topics: Topics) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            message_id=event.event_id,
            topic=topics.for_event(event),
            key=event.order_id,
            type_name=event.type_name,
            payload=event.to_dict(),
            created_at=event.occurred_at,
        )
        for event in events
    ]


def encode(message: OutboxMessage) -> bytes:
    envelope: dict[str, Any] = {
        "type": message.type_name,
        "schema_version": SCHEMA_VERSION,
        "event_id": message.message_id,
        "occurred_at": message.created_at.isoformat(),
        "key": message.key,
        "data": message.payload,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def decode(value: bytes) -> Event:
    try:
        envelope = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PermanentMessageError(f"undecodable message: {exc}") from exc
    if not isinstance(envelope, dict):
        raise PermanentMessageError("message is not a JSON object")
    version = envelope.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PermanentMessageError(f"unknown schema_version {version!r}")
    data = envelope.get("data")
    type_name = envelope.get("type")
    if not isinstance(data, dict) or not isinstance(type_name, str):
        raise PermanentMessageError("envelope lacks type or data")
    return event_from_dict(type_name, data)
