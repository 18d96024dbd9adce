"""Domain events: facts, named in the past tense.

Each event knows how to become a JSON-ready dict and back, so the outbox and
the broker carry exactly what the domain produced. `OrderPlaced` carries the
whole order so a consumer can persist it when intake could not reach the
database (docs/CONTRACT.md: the broker fallback)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from orderflow.domain.errors import PermanentMessageError

if TYPE_CHECKING:
    from orderflow.domain.model import Order


def _new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, kw_only=True)
class Event:
    type_name: ClassVar[str] = "Event"
    order_id: str
    occurred_at: datetime
    event_id: str = field(default_factory=_new_event_id)

    def to_dict(self) -> dict[str, Any]:
        # Shallow (dataclasses.asdict deep-copies the order snapshot of every
        # OrderPlaced): events are values, and nothing changes the dicts they
        # hold. The instance dict holds exactly the fields, in their order.
        data = dict(vars(self))
        data["occurred_at"] = self.occurred_at.isoformat()
        return data


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    type_name: ClassVar[str] = "OrderPlaced"
    order: dict[str, Any]

    @classmethod
    def of(cls, order: Order) -> OrderPlaced:
        return cls(order_id=order.id, occurred_at=order.created_at, order=order.to_dict())


@dataclass(frozen=True, kw_only=True)
class OrderProcessingStarted(Event):
    type_name: ClassVar[str] = "OrderProcessingStarted"


@dataclass(frozen=True, kw_only=True)
class OrderCompleted(Event):
    type_name: ClassVar[str] = "OrderCompleted"
    total: str


@dataclass(frozen=True, kw_only=True)
class OrderFailed(Event):
    type_name: ClassVar[str] = "OrderFailed"
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    """`restocked`: the units put back in stock, [{product_id, quantity}]
    sorted by product id; empty when the order held none (not completed)."""

    type_name: ClassVar[str] = "OrderCancelled"
    restocked: list[dict[str, Any]] = field(default_factory=list)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (OrderPlaced, OrderProcessingStarted, OrderCompleted, OrderFailed, OrderCancelled)
}


def event_from_dict(type_name: str, data: dict[str, Any]) -> Event:
    """Rebuild an event; anything malformed is a PermanentMessageError (DLQ, not retry)."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise PermanentMessageError(f"unknown event type {type_name!r}")
    try:
        fields = dict(data)
        fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
        return cls(**fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentMessageError(f"malformed {type_name} event: {exc}") from exc
