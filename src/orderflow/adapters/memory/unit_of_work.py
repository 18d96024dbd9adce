"""An in-memory database with serializable transactions.

One re-entrant lock is held for the whole life of a unit of work, so every
transaction runs alone: the simplest correct isolation, and cheap at the
scale of the embedded mode. Aggregates are stored as snapshots and rebuilt on
read, so a caller holding an object cannot change the store behind its back."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from orderflow.adapters.outbox_notifications import OutboxNotificationRecorder
from orderflow.domain.errors import DuplicateKey, OrderNotFound, ProductNotFound
from orderflow.domain.model import Order, OrderStatus, Product
from orderflow.ports.idempotency import IdempotencyRecord, IdempotencyStore
from orderflow.ports.outbox import Outbox, OutboxMessage
from orderflow.ports.repositories import (
    OrderRepository,
    ProductPage,
    ProductRepository,
    search_count_bound,
)
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass
class _Tables:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: dict[int, OutboxMessage] = field(default_factory=dict)
    published: dict[int, datetime] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    next_seq: int = 1

    def copy(self) -> _Tables:
        return _Tables(
            orders=dict(self.orders),
            products=dict(self.products),
            outbox=dict(self.outbox),
            published=dict(self.published),
            idempotency=dict(self.idempotency),
            next_seq=self.next_seq,
        )


class MemoryDatabase:
    """The shared state behind every MemoryUnitOfWork made by one factory."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables = _Tables()


def _product_from(row: dict[str, Any]) -> Product:
    return Product(**row)


class _Orders(OrderRepository):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def add(self, order: Order) -> None:
        if order.id in self._t.orders:
            raise DuplicateKey(f"order {order.id} already exists")
        self._t.orders[order.id] = order.to_dict()

    def get(self, order_id: str) -> Order | None:
        row = self._t.orders.get(order_id)
        return Order.from_dict(row) if row is not None else None

    def get_for_update(self, order_id: str) -> Order | None:
        return self.get(order_id)  # the database lock already serialises us

    def save(self, order: Order) -> None:
        if order.id not in self._t.orders:
            raise OrderNotFound(order.id)
        self._t.orders[order.id] = order.to_dict()

    def list_owned(self, *, owner: str, limit: int, offset: int) -> list[Order]:
        rows = [row for row in self._t.orders.values() if row.get("owner") == owner]
        rows.sort(key=lambda row: (datetime.fromisoformat(row["created_at"]), row["id"]))
        rows.reverse()
        start = max(offset, 0)
        return [Order.from_dict(row) for row in rows[start : start + max(limit, 0)]]

    def list_stuck(
        self, *, statuses: Sequence[OrderStatus], older_than: datetime, limit: int
    ) -> list[Order]:
        wanted = {status.value for status in statuses}
        rows = [
            row
            for row in self._t.orders.values()
            if row["status"] in wanted and datetime.fromisoformat(row["updated_at"]) < older_than
        ]
        rows.sort(key=lambda row: (row["updated_at"], row["id"]))
        return [Order.from_dict(row) for row in rows[:limit]]


class _Products(ProductRepository):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def upsert(self, product: Product) -> None:
        self._t.products[product.id] = _product_row(product)

    def get(self, product_id: str) -> Product | None:
        row = self._t.products.get(product_id)
        return _product_from(row) if row is not None else None

    def get_by_name(self, name: str) -> Product | None:
        folded = name.casefold()
        matches = sorted(
            pid for pid, row in self._t.products.items() if row["name"].casefold() == folded
        )
        return self.get(matches[0]) if matches else None

    def get_many_for_update(self, product_ids: Sequence[str]) -> dict[str, Product]:
        found = {pid: self.get(pid) for pid in sorted(set(product_ids))}
        return {pid: product for pid, product in found.items() if product is not None}

    def save(self, product: Product) -> None:
        if product.id not in self._t.products:
            raise ProductNotFound(product.id)
        self._t.products[product.id] = _product_row(product)

    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        folded = text.casefold()
        rows = sorted(
            (
                row
                for row in self._t.products.values()
                if folded in row["name"].casefold() or folded in row["description"].casefold()
            ),
            key=lambda row: (row["name"], row["id"]),
        )
        bound = search_count_bound(limit=limit, offset=offset)
        return ProductPage.counted(
            [_product_from(row) for row in rows[offset : offset + limit]],
            counted=min(len(rows), bound),
            bound=bound,
        )

    def count(self) -> int:
        return len(self._t.products)


def _product_row(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "price": product.price,
        "stock": product.stock,
    }


class _Outbox(Outbox):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def add(self, messages: Sequence[OutboxMessage]) -> None:
        known = {m.message_id for m in self._t.outbox.values()}
        for message in messages:
            if message.message_id in known:
                raise DuplicateKey(f"outbox message {message.message_id} already stored")
            known.add(message.message_id)
            seq = self._t.next_seq
            self._t.next_seq += 1
            self._t.outbox[seq] = replace(message, seq=seq)

    def claim_batch(self, *, limit: int) -> list[OutboxMessage]:
        pending = (m for seq, m in sorted(self._t.outbox.items()) if seq not in self._t.published)
        return [m for _, m in zip(range(limit), pending, strict=False)]

    def mark_published(self, *, seqs: Sequence[int], at: datetime) -> None:
        for seq in seqs:
            self._t.published[seq] = at

    def pending_count(self) -> int:
        return len(self._t.outbox) - len(self._t.published)

    def purge_published(self, *, older_than: datetime) -> int:
        old = [seq for seq, at in self._t.published.items() if at < older_than]
        for seq in old:
            del self._t.outbox[seq]
            del self._t.published[seq]
        return len(old)


class _Idempotency(IdempotencyStore):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def get(self, key: str) -> IdempotencyRecord | None:
        return self._t.idempotency.get(key)

    def add(self, record: IdempotencyRecord) -> None:
        if record.key in self._t.idempotency:
            raise DuplicateKey(f"idempotency key {record.key!r} already stored")
        self._t.idempotency[record.key] = record

    def purge(self, *, older_than: datetime) -> int:
        old = [k for k, r in self._t.idempotency.items() if r.created_at < older_than]
        for key in old:
            del self._t.idempotency[key]
        return len(old)


class MemoryUnitOfWork(UnitOfWork):
    def __init__(self, database: MemoryDatabase) -> None:
        self._db = database
        self._working: _Tables | None = None

    def __enter__(self) -> Self:
        self._db.lock.acquire()
        # Copy-on-enter: the repositories write to a private copy of the
        # table dicts, and commit swaps it in. Rows themselves are immutable
        # snapshots, so the shallow copy is enough.
        self._working = self._db.tables.copy()
        self._rebind(self._working)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()
        self._db.lock.release()

    def commit(self) -> None:
        if self._working is None:
            raise RuntimeError("commit outside of a 'with' block")
        self._db.tables = self._working
        self._working = self._working.copy()
        self._rebind(self._working)

    def rollback(self) -> None:
        if self._working is not None:
            self._working = self._db.tables.copy()
            self._rebind(self._working)

    def _rebind(self, tables: _Tables) -> None:
        self.orders = _Orders(tables)
        self.products = _Products(tables)
        self.outbox = _Outbox(tables)
        self.idempotency = _Idempotency(tables)
        # The ledger is a store of its own (MemoryNotificationLedger), outside
        # these tables' transactions: notifications go through the outbox.
        self.notifications = OutboxNotificationRecorder(self.outbox)


class MemoryUnitOfWorkFactory(UnitOfWorkFactory):
    batch_limit = 1000  # every transaction runs alone: any number of orders may share one

    def __init__(self, database: MemoryDatabase | None = None) -> None:
        self.database = database or MemoryDatabase()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.database)
