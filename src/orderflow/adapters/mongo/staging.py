"""What a unit of work has read and staged. Nothing here touches the
database: the repositories fill it, commit() applies it (unit_of_work.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from orderflow.adapters.mongo.documents import Document
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.outbox import OutboxMessage


def new_owner_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Staging:
    owner: str = field(default_factory=new_owner_id)
    """Names this unit of work in lock and claim fields."""

    # orders -------------------------------------------------------------
    new_orders: dict[str, Document] = field(default_factory=dict)
    """Orders to insert, as full documents (a snapshot at add/save time)."""
    saved_orders: dict[str, Document] = field(default_factory=dict)
    """Orders to overwrite: their fields (no _id)."""
    order_versions: dict[str, int] = field(default_factory=dict)
    """The version of each order as this unit of work first read it."""
    locked_orders: set[str] = field(default_factory=set)

    # products -----------------------------------------------------------
    locked_products: set[str] = field(default_factory=set)
    stock_seen: dict[str, int] = field(default_factory=dict)
    """Stock as this unit of work first read it (holds of `hold_tag` added)."""
    held: dict[str, int] = field(default_factory=dict)
    """Units `hold_tag` held of each product read by get_many_for_update."""
    hold_tag: str | None = None
    """The locked order whose stock changes are recorded as holds."""
    saved_stock: dict[str, int] = field(default_factory=dict)
    upserted_products: dict[str, Document] = field(default_factory=dict)

    # outbox -------------------------------------------------------------
    messages: list[OutboxMessage] = field(default_factory=list)
    # Seqs this unit of work claimed or tried to (a claim whose answer was
    # lost may have been made): released by owner when it ends.
    claimed: list[int] = field(default_factory=list)
    published: dict[int, datetime] = field(default_factory=dict)
    purge_published_before: datetime | None = None

    # idempotency --------------------------------------------------------
    records: dict[str, IdempotencyRecord] = field(default_factory=dict)
    purge_records_before: datetime | None = None
