"""Aggregates <-> BSON documents, exactly.

- Money is Decimal128: exact (pymongo refuses a Decimal it cannot hold
  exactly), keeps the exponent ("19.90" stays "19.90"), and sorts and
  compares as a number in queries.
- A time is a BSON date (UTC, what indexes, sorts and people see) plus
  `<field>_us`, the microseconds a BSON date cannot hold (0-999): Python
  datetimes have microseconds and an order must read back exactly as it was
  written. `before()` compares the pair exactly.
- Ids are strings and are the documents' `_id`s.

Internal fields (order locks, product holds, embedded outbox messages,
claims) are described in docs/MONGODB.md; the decoders ignore them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from orderflow.domain.model import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Product,
    Transition,
)
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.outbox import OutboxMessage

Document = dict[str, Any]

ORDERS = "orders"
PRODUCTS = "products"
OUTBOX = "outbox"
IDEMPOTENCY = "idempotency_keys"
API_KEYS = "api_keys"
COUNTERS = "counters"
SCHEMA = "schema"  # one document, {_id: "orderflow", version: n}, written by migrate
OUTBOX_SEQ_COUNTER = "outbox_seq"

# Field names shared by the adapter's modules.
LOCK_OWNER = "lock_owner"
LOCK_UNTIL = "lock_until"
EMBEDDED_OUTBOX = "outbox"  # on an order: its messages not yet moved to the outbox
HOLDS = "holds"  # on a product: [{order_id, quantity}] stock taken by unfinished orders
CLAIM_OWNER = "claim_owner"
CLAIM_UNTIL = "claim_until"
PENDING = "pending"  # on an idempotency record: the unit of work still committing it
PENDING_SINCE = "pending_since"

_MICROS = "_us"


# --- scalars ----------------------------------------------------------------------


def money(value: Decimal) -> Decimal128:
    return Decimal128(value)


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return Decimal(str(value))


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def put_time(doc: Document, field: str, value: datetime | None) -> None:
    """Store `value` in `field` (milliseconds) and `field_us` (the rest)."""
    if value is None:
        doc[field] = None
        doc[field + _MICROS] = 0
        return
    value = utc(value)
    rest = value.microsecond % 1000
    doc[field] = value - timedelta(microseconds=rest)
    doc[field + _MICROS] = rest


def get_time(doc: Mapping[str, Any], field: str) -> datetime:
    value = doc[field]
    if not isinstance(value, datetime):
        raise ValueError(f"{field} is not a date: {value!r}")
    return utc(value) + timedelta(microseconds=int(doc.get(field + _MICROS) or 0))


def time_fields(field: str, value: datetime | None) -> Document:
    doc: Document = {}
    put_time(doc, field, value)
    return doc


def before(field: str, cutoff: datetime) -> Document:
    """A filter: the time stored by put_time in `field` is earlier than `cutoff`."""
    bound = time_fields(field, cutoff)
    return {
        "$or": [
            {field: {"$lt": bound[field]}},
            {field: bound[field], field + _MICROS: {"$lt": bound[field + _MICROS]}},
        ]
    }


def time_sort(field: str) -> list[tuple[str, int]]:
    return [(field, 1), (field + _MICROS, 1)]


# --- orders -------------------------------------------------------------------------


def order_fields(order: Order) -> Document:
    """Every stored field of the order except `_id` (what a save overwrites)."""
    doc: Document = {
        "customer": {
            "name": order.customer.name,
            "email": order.customer.email,
            "address": order.customer.address,
        },
        "items": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price),
            }
            for line in order.items
        ],
        "payment_method": order.payment_method.value,
        "status": order.status.value,
        "failure_reason": order.failure_reason,
        "total": money(order.total),  # derived; stored for people and reports
        "version": order.version,
        # ISO strings keep every microsecond; the timeline is read, never queried.
        "history": [transition.to_dict() for transition in order.history],
        # Who placed it and its access token's SHA-256 (None: anonymous /
        # placed before identity); GET /api/orders queries `owner`.
        "owner": order.owner,
        "access_token_digest": order.access_token_digest,
        # Units held from stock by product id; absent on documents written
        # before reservations were recorded: derived from the status.
        "reserved": order.reserved,
    }
    put_time(doc, "created_at", order.created_at)
    put_time(doc, "updated_at", order.updated_at)
    return doc


def order_document(order: Order) -> Document:
    return {"_id": order.id, **order_fields(order)}


def order_from(doc: Mapping[str, Any]) -> Order:
    customer = doc["customer"]
    return Order(
        id=str(doc["_id"]),
        customer=Customer(
            name=customer["name"], email=customer["email"], address=customer["address"]
        ),
        items=tuple(
            OrderLine(
                product_id=str(item["product_id"]),
                quantity=int(item["quantity"]),
                unit_price=to_decimal(item["unit_price"]),
            )
            for item in doc["items"]
        ),
        payment_method=PaymentMethod(doc["payment_method"]),
        status=OrderStatus(doc["status"]),
        failure_reason=doc.get("failure_reason"),
        created_at=get_time(doc, "created_at"),
        updated_at=get_time(doc, "updated_at"),
        version=int(doc["version"]),
        # Absent on documents written before timelines were kept: derived.
        history=[Transition.from_dict(item) for item in doc.get("history") or ()],
        owner=doc.get("owner"),
        access_token_digest=doc.get("access_token_digest"),
        reserved=doc.get("reserved"),
    )


# Reads of orders never fetch the internal fields.
ORDER_PROJECTION: Document = {EMBEDDED_OUTBOX: 0}


# --- products -----------------------------------------------------------------------


def name_key(name: str) -> str:
    """What get_by_name compares: the name case-folded, as the memory adapter does."""
    return name.casefold()


def product_fields(product: Product) -> Document:
    return {
        "name": product.name,
        "name_key": name_key(product.name),
        "description": product.description,
        "price": money(product.price),
        "stock": product.stock,
    }


def product_from(doc: Mapping[str, Any], *, held: int = 0) -> Product:
    """The product; `held` adds back the units the reading order already holds."""
    return Product(
        id=str(doc["_id"]),
        name=doc["name"],
        description=doc["description"],
        price=to_decimal(doc["price"]),
        stock=int(doc["stock"]) + held,
    )


PRODUCT_PROJECTION: Document = {"name_key": 0}


def held_by(doc: Mapping[str, Any], order_id: str) -> int:
    """Units of this product that `order_id` holds (0 if none)."""
    return sum(
        int(hold["quantity"]) for hold in doc.get(HOLDS) or () if hold["order_id"] == order_id
    )


# --- outbox -------------------------------------------------------------------------


def outbox_document(message: OutboxMessage, seq: int) -> Document:
    doc: Document = {
        "_id": seq,
        "message_id": message.message_id,
        "topic": message.topic,
        "key": message.key,
        "type_name": message.type_name,
        "payload": dict(message.payload),
        CLAIM_OWNER: None,
        CLAIM_UNTIL: None,
    }
    if message.headers:
        doc["headers"] = dict(message.headers)
    put_time(doc, "created_at", message.created_at)
    put_time(doc, "published_at", None)
    return doc


def outbox_message_from(doc: Mapping[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        message_id=doc["message_id"],
        topic=doc["topic"],
        key=doc["key"],
        type_name=doc["type_name"],
        payload=dict(doc["payload"]),
        created_at=get_time(doc, "created_at"),
        seq=int(doc["_id"]),
        headers=dict(doc.get("headers") or {}),
    )


# --- idempotency --------------------------------------------------------------------


def idempotency_document(record: IdempotencyRecord) -> Document:
    doc: Document = {
        "_id": record.key,
        "fingerprint": record.fingerprint,
        "order_id": record.order_id,
        "response": dict(record.response),
    }
    put_time(doc, "created_at", record.created_at)
    return doc


def idempotency_record_from(doc: Mapping[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=str(doc["_id"]),
        fingerprint=doc["fingerprint"],
        order_id=doc["order_id"],
        response=dict(doc["response"]),
        created_at=get_time(doc, "created_at"),
    )
