"""The wire format of every message on the broker: a JSON envelope.

    {"type": "OrderPlaced", "schema_version": "1.1", "event_id": "...",
     "occurred_at": "...", "key": "<order id>", "data": {...event fields...}}

Versions are MAJOR.MINOR (docs/EVENTS.md). A reader accepts:
- an older version it knows, upcast step by step to its own (UPCASTERS);
  the integer 1 of releases before versions had a minor reads as 1.0;
- a newer minor of its own major: compatible by definition, its unknown
  fields are ignored;
and refuses an unknown major version. Refusals, undecodable bytes and data
invalid against the event's schema (adapters/event_schemas.py) are
PermanentMessageError: such a message goes to the DLQ, with the reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from orderflow.adapters.event_schemas import EVENT_DATA
from orderflow.adapters.fast_json import dumps_bytes
from orderflow.domain.errors import PermanentMessageError
from orderflow.domain.events import Event, event_from_dict
from orderflow.ports.codec import MessageCodec
from orderflow.ports.outbox import OutboxMessage


@dataclass(frozen=True, order=True, slots=True)
class SchemaVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def of(cls, value: object) -> SchemaVersion:
        """From an envelope's `schema_version`: "MAJOR.MINOR", or an integer
        (a major alone, as releases before minors wrote it)."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(value, 0)
        if isinstance(value, str):
            major, dot, minor = value.partition(".")
            if dot and major.isdigit() and minor.isdigit():
                return cls(int(major), int(minor))
        raise PermanentMessageError(f"schema_version {value!r} is not MAJOR.MINOR")


Envelope = dict[str, Any]
Upcaster = Callable[[Envelope], Envelope]

# The version this release writes.
CURRENT = SchemaVersion(1, 3)


def _from_1_0(envelope: Envelope) -> Envelope:
    # 1.1 only wrote the version as MAJOR.MINOR; the data did not change.
    return envelope


def _from_1_1(envelope: Envelope) -> Envelope:
    # 1.2 added the order snapshot's optional owner and access_token_digest:
    # an order placed before identity has neither (no owner, no token).
    return envelope


def _from_1_2(envelope: Envelope) -> Envelope:
    # 1.3 added OrderCancelled's restocked units. Up to 1.2 only a pending
    # order could be cancelled, and a pending order holds no stock: none.
    # (The snapshot's `reserved` is optional: absent, it is derived.)
    data = envelope.get("data")
    if envelope.get("type") == "OrderCancelled" and isinstance(data, dict):
        return {**envelope, "data": {"restocked": [], **data}}
    return envelope


# Each older version this release knows -> (the next version, the step).
UPCASTERS: Mapping[SchemaVersion, tuple[SchemaVersion, Upcaster]] = {
    SchemaVersion(1, 0): (SchemaVersion(1, 1), _from_1_0),
    SchemaVersion(1, 1): (SchemaVersion(1, 2), _from_1_1),
    SchemaVersion(1, 2): (SchemaVersion(1, 3), _from_1_2),
}


def encode(message: OutboxMessage, *, version: SchemaVersion = CURRENT) -> bytes:
    envelope: dict[str, Any] = {
        "type": message.type_name,
        "schema_version": str(version),
        "event_id": message.message_id,
        "occurred_at": message.created_at.isoformat(),
        "key": message.key,
        "data": message.payload,
    }
    # orjson: a status event carries the order's snapshot, and encoding it
    # was a sixth of a worker's CPU with the standard library.
    return dumps_bytes(envelope)


def decode(
    value: bytes,
    *,
    current: SchemaVersion = CURRENT,
    upcasters: Mapping[SchemaVersion, tuple[SchemaVersion, Upcaster]] = UPCASTERS,
) -> Event:
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError as exc:  # invalid UTF-8 included
        raise PermanentMessageError(f"undecodable message: {exc}") from exc
    if not isinstance(envelope, dict):
        raise PermanentMessageError("message is not a JSON object")
    version = SchemaVersion.of(envelope.get("schema_version"))
    while version < current and version in upcasters:
        version, step = upcasters[version]
        envelope = step(envelope)
    if version.major != current.major:
        raise PermanentMessageError(
            f"unknown major schema version {version} (this worker reads {current.major}.x "
            f"and upcasts {', '.join(map(str, sorted(upcasters))) or 'nothing'})"
        )
    data = envelope.get("data")
    type_name = envelope.get("type")
    if not isinstance(data, dict) or not isinstance(type_name, str):
        raise PermanentMessageError("envelope lacks type or data")
    model = EVENT_DATA.get(type_name)
    if model is None:
        raise PermanentMessageError(f"unknown event type {type_name!r}")
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise PermanentMessageError(f"invalid {type_name} {version}: {_reasons(exc)}") from exc
    # Unknown fields (a newer minor's) are left out; the nested ones the
    # domain never reads.
    return event_from_dict(type_name, {k: data[k] for k in model.model_fields if k in data})


def _reasons(error: ValidationError) -> str:
    """Where and why, without the values (a message may hold personal data)."""
    return "; ".join(
        f"{'.'.join(map(str, item['loc'])) or 'data'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    )


class JsonEnvelope(MessageCodec):
    """The codec; `current` and `upcasters` default to this release's."""

    def __init__(
        self,
        *,
        current: SchemaVersion = CURRENT,
        upcasters: Mapping[SchemaVersion, tuple[SchemaVersion, Upcaster]] = UPCASTERS,
    ) -> None:
        self._current = current
        self._upcasters = upcasters

    def encode(self, message: OutboxMessage) -> bytes:
        return encode(message, version=self._current)

    def decode(self, value: bytes) -> Event:
        return decode(value, current=self._current, upcasters=self._upcasters)
