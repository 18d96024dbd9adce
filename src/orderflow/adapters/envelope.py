"""The wire format of every message on the broker: a JSON envelope.

    {"type": "OrderPlaced", "schema_version": 1, "event_id": "...",
     "occurred_at": "...", "key": "<order id>", "data": {...event fields...}}

Decoding failures are PermanentMessageError: such a message goes to the DLQ."""

from __future__ import annotations

import json
from typing import Any

from orderflow.domain.errors import PermanentMessageError
from orderflow.domain.events import SCHEMA_VERSION, Event, event_from_dict
from orderflow.ports.codec import MessageCodec
from orderflow.ports.outbox import OutboxMessage


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


class JsonEnvelope(MessageCodec):
    def encode(self, message: OutboxMessage) -> bytes:
        return encode(message)

    def decode(self, value: bytes) -> Event:
        return decode(value)
