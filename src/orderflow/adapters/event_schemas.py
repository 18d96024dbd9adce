"""The JSON Schema of every event on the broker, as pydantic models.

The codec validates each message's `data` against its event's model before
the worker sees it, so a message that passes can be processed, and one that
does not is invalid (dead-lettered with the reason), never a bug. The same
models generate docs/events/*.json (`make schemas`); a unit test fails when
the committed files differ, so a breaking change to an event shows in CI.

Strict: no coercion (a quantity is a JSON integer, a time an ISO 8601
string). Unknown fields are ignored at every level, so a newer minor
version's additions do not stop an older worker (docs/EVENTS.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema


def _iso_datetime(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a UTC offset")
    return value


def _decimal(value: str) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("not a decimal number") from None
    if not number.is_finite():
        raise ValueError("not a finite decimal number")
    return value


DateTime = Annotated[
    str,
    AfterValidator(_iso_datetime),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Money = Annotated[
    str,
    AfterValidator(_decimal),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]
Status = Literal["pending", "processing", "completed", "failed", "cancelled"]
PaymentMethod = Literal["card", "paypal", "bank_transfer", "cash_on_delivery"]


class _Schema(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Customer(_Schema):
    name: str
    email: str
    address: str


class Line(_Schema):
    product_id: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price: Money


class Transition(_Schema):
    status: Status
    at: DateTime
    reason: str | None = None


class OrderSnapshot(_Schema):
    """The whole order as placed (Order.to_dict)."""

    id: str = Field(min_length=1)
    customer: Customer
    items: list[Line] = Field(min_length=1)
    payment_method: PaymentMethod
    status: Status
    failure_reason: str | None = None
    total: Money
    created_at: DateTime
    updated_at: DateTime
    version: int = Field(ge=1)
    history: list[Transition] = Field(default_factory=list)
    owner: str | None = Field(
        default=None,
        description="Who placed it: `customer:<sub>` or `key:<api key id>`; null: anonymous.",
    )
    access_token_digest: str | None = Field(
        default=None,
        description="SHA-256 (hex) of the order's access token; never the token.",
    )
    reserved: dict[str, Annotated[int, Field(gt=0)]] | None = Field(
        default=None,
        description=(
            "Units held from stock, by product id (empty until completed); absent"
            " before 1.3: derived from the status."
        ),
    )


class EventData(_Schema):
    """Fields every event carries."""

    order_id: str = Field(min_length=1)
    occurred_at: DateTime
    event_id: str = Field(min_length=1)


class OrderPlaced(EventData):
    """An order was accepted; it carries the whole order, so that a worker
    can store it when intake could not reach the database."""

    order: OrderSnapshot


class OrderProcessingStarted(EventData):
    """A worker started processing the order."""


class OrderCompleted(EventData):
    """The order's stock was reserved; it is confirmed."""

    total: Money


class OrderFailed(EventData):
    """A domain rule failed the order (e.g. insufficient stock)."""

    reason: str


class Units(_Schema):
    product_id: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class OrderCancelled(EventData):
    """The order was cancelled; the stock it held went back."""

    restocked: list[Units] = Field(
        description=(
            "The units put back in stock, by product id: every unit a completed order"
            " held; empty for an order cancelled before it held any (1.2 and older:"
            " upcast to empty, as only pending orders could be cancelled)."
        )
    )


EVENT_DATA: dict[str, type[EventData]] = {
    model.__name__: model
    for model in (
        OrderPlaced,
        OrderProcessingStarted,
        OrderCompleted,
        OrderFailed,
        OrderCancelled,
    )
}


def envelope_schema(type_name: str, data: type[EventData], *, version: str) -> dict[str, Any]:
    """The JSON Schema of a whole message of one event type: the envelope
    (docs/EVENTS.md) around that event's data."""
    data_schema = data.model_json_schema()
    definitions = data_schema.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://orderflow.example/events/{type_name}.json",
        "title": type_name,
        "description": " ".join((data.__doc__ or "").split()),
        "type": "object",
        "required": ["type", "schema_version", "event_id", "occurred_at", "key", "data"],
        "properties": {
            "type": {"const": type_name},
            "schema_version": {
                "description": (
                    f'MAJOR.MINOR; this release writes "{version}". The integer 1 of '
                    "older releases reads as 1.0."
                ),
                "anyOf": [
                    {"type": "string", "pattern": r"^\d+\.\d+$"},
                    {"type": "integer", "minimum": 1},
                ],
            },
            "event_id": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "key": {"type": "string", "description": "The order id (the partition key)."},
            "data": data_schema,
        },
        "additionalProperties": True,
        **({"$defs": definitions} if definitions else {}),
    }
