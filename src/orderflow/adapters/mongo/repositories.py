"""Orders and products on MongoDB. Reads go to the database (read committed)
and see what this unit of work staged; writes are staged and applied by
MongoUnitOfWork.commit(). docs/MONGODB.md explains the design."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from orderflow.adapters.mongo.documents import (
    HOLDS,
    ORDER_PROJECTION,
    PRODUCT_PROJECTION,
    Document,
    before,
    held_by,
    name_key,
    order_document,
    order_fields,
    order_from,
    product_fields,
    product_from,
    time_sort,
)
from orderflow.adapters.mongo.errors import translated
from orderflow.adapters.mongo.locks import acquire
from orderflow.adapters.mongo.staging import Staging
from orderflow.adapters.mongo.store import MongoStore
from orderflow.domain.errors import DuplicateKey
from orderflow.domain.model import TERMINAL_STATUSES, Order, OrderStatus, Product
from orderflow.ports.repositories import (
    OrderRepository,
    ProductPage,
    ProductRepository,
    search_count_bound,
)


def _is_id(value: object) -> bool:
    # Ids reach the database only as plain strings: a dict such as
    # {"$gt": ""} would be a query operator, not an id.
    return isinstance(value, str)


class MongoOrderRepository(OrderRepository):
    def __init__(self, store: MongoStore, staging: Staging) -> None:
        self._store = store
        self._s = staging

    def add(self, order: Order) -> None:
        if order.id in self._s.new_orders:
            raise DuplicateKey(f"order {order.id} already added in this unit of work")
        self._s.new_orders[order.id] = order_document(order)

    @translated
    def get(self, order_id: str) -> Order | None:
        if not _is_id(order_id):
            return None
        staged = self._staged(order_id)
        if staged is not None:
            return staged
        doc = self._store.orders.find_one({"_id": order_id}, ORDER_PROJECTION)
        if doc is None:
            return None
        self._s.order_versions.setdefault(order_id, int(doc["version"]))
        return order_from(doc)

    @translated
    def get_for_update(self, order_id: str) -> Order | None:
        if not _is_id(order_id):
            return None
        if order_id in self._s.new_orders:
            return order_from(self._s.new_orders[order_id])
        doc = self._lock(order_id)
        if doc is None:
            return None
        self._s.locked_orders.add(order_id)
        self._s.order_versions[order_id] = int(doc["version"])
        staged = self._staged(order_id)
        return staged if staged is not None else order_from(doc)

    def save(self, order: Order) -> None:
        if order.id in self._s.new_orders:
            self._s.new_orders[order.id] = order_document(order)
        else:
            self._s.saved_orders[order.id] = order_fields(order)

    @translated
    def list_owned(self, *, owner: str, limit: int, offset: int) -> list[Order]:
        if limit <= 0 or not isinstance(owner, str):
            return []
        cursor = (
            self._store.orders.find({"owner": owner}, ORDER_PROJECTION)
            .sort([("created_at", -1), ("created_at_us", -1), ("_id", -1)])
            .skip(max(offset, 0))
            .limit(limit)
        )
        return [order_from(doc) for doc in cursor]

    @translated
    def list_stuck(
        self, *, statuses: Sequence[OrderStatus], older_than: datetime, limit: int
    ) -> list[Order]:
        if limit <= 0:
            return []
        query: Document = {
            "status": {"$in": [OrderStatus(status).value for status in statuses]},
            **before("updated_at", older_than),
        }
        cursor = (
            self._store.orders.find(query, ORDER_PROJECTION)
            .sort([*time_sort("updated_at"), ("_id", 1)])
            .limit(limit)
        )
        return [order_from(doc) for doc in cursor]

    def _staged(self, order_id: str) -> Order | None:
        if order_id in self._s.new_orders:
            return order_from(self._s.new_orders[order_id])
        if order_id in self._s.saved_orders:
            return order_from({"_id": order_id, **self._s.saved_orders[order_id]})
        return None

    def _lock(self, order_id: str) -> Document | None:
        return acquire(
            self._store,
            self._store.orders,
            order_id,
            owner=self._s.owner,
            projection=ORDER_PROJECTION,
        )


class MongoProductRepository(ProductRepository):
    def __init__(self, store: MongoStore, staging: Staging) -> None:
        self._store = store
        self._s = staging

    def upsert(self, product: Product) -> None:
        self._s.upserted_products[product.id] = {"_id": product.id, **product_fields(product)}
        self._s.saved_stock.pop(product.id, None)

    @translated
    def get(self, product_id: str) -> Product | None:
        if not _is_id(product_id):
            return None
        if product_id in self._s.upserted_products:
            return product_from(self._s.upserted_products[product_id])
        doc = self._store.products.find_one({"_id": product_id}, PRODUCT_PROJECTION)
        if doc is None:
            return None
        self._s.stock_seen.setdefault(product_id, int(doc["stock"]))
        return self._with_staged_stock(doc)

    @translated
    def get_by_name(self, name: str) -> Product | None:
        if not isinstance(name, str):
            return None
        # An equality on a stored case-folded copy of the name: exact, uses
        # an index, and the user's text is only ever a value, never a pattern.
        doc = self._store.products.find_one(
            {"name_key": name_key(name)}, PRODUCT_PROJECTION, sort=[("_id", 1)]
        )
        return self._with_staged_stock(doc) if doc is not None else None

    @translated
    def get_many_for_update(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """Locks the products one by one in sorted id order (locks.py), so
        concurrent workers neither oversell nor deadlock. Units the locked
        order already holds (a crashed earlier attempt) count as its own stock."""
        ids = sorted({pid for pid in product_ids if _is_id(pid)})
        tag = self._hold_tag()
        docs: list[Document] = []
        for pid in ids:
            doc = acquire(
                self._store,
                self._store.products,
                pid,
                owner=self._s.owner,
                projection=PRODUCT_PROJECTION,
            )
            if doc is not None:
                self._s.locked_products.add(pid)
                docs.append(doc)
        if not docs:
            return {}
        self._collect_finished_holds(docs)
        found: dict[str, Product] = {}
        for doc in docs:
            pid = str(doc["_id"])
            if pid in self._s.upserted_products:
                found[pid] = product_from(self._s.upserted_products[pid])
                continue
            held = held_by(doc, tag) if tag is not None else 0
            if pid not in self._s.saved_stock:
                self._s.stock_seen[pid] = int(doc["stock"]) + held
                if tag is not None:
                    self._s.held[pid] = held
            found[pid] = self._with_staged_stock(doc, held=held)
        return found

    def save(self, product: Product) -> None:
        if product.id in self._s.upserted_products:
            self._s.upserted_products[product.id]["stock"] = product.stock
        else:
            self._s.saved_stock[product.id] = product.stock

    @translated
    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        text = text if isinstance(text, str) else str(text)
        query: Document = {}
        if text:
            # re.escape: the text is a literal, never pattern syntax.
            pattern = {"$regex": re.escape(text), "$options": "i"}
            query = {"$or": [{"name": pattern}, {"description": pattern}]}
        # Counting stops at the bound: a common word need not be counted
        # to its last match (ports.repositories.SEARCH_COUNT_CAP).
        bound = search_count_bound(limit=limit, offset=offset)
        counted = self._store.products.count_documents(query, limit=bound)
        if limit <= 0 or offset >= counted:
            return ProductPage.counted([], counted=counted, bound=bound)
        cursor = (
            self._store.products.find(query, PRODUCT_PROJECTION)
            .sort([("name", 1), ("_id", 1)])
            .skip(max(offset, 0))
            .limit(limit)
        )
        items = [self._with_staged_stock(doc) for doc in cursor]
        return ProductPage.counted(items, counted=counted, bound=bound)

    @translated
    def count(self) -> int:
        stored = self._store.products.count_documents({})
        staged = list(self._s.upserted_products)
        if not staged:
            return stored
        existing = self._store.products.count_documents({"_id": {"$in": staged}})
        return stored + len(staged) - existing

    def _hold_tag(self) -> str | None:
        """The order whose stock changes this unit of work records as holds:
        the one order it locked (the processing service's shape)."""
        if self._s.hold_tag is None and len(self._s.locked_orders) == 1:
            self._s.hold_tag = next(iter(self._s.locked_orders))
        return self._s.hold_tag

    def _with_staged_stock(self, doc: Document, *, held: int = 0) -> Product:
        product = product_from(doc, held=held)
        staged = self._s.saved_stock.get(product.id)
        if staged is not None:
            product.stock = staged
        return product

    def _collect_finished_holds(self, docs: list[Document]) -> None:
        """Drop the holds that are settled for good: the takes of orders
        whose processing is over (their stock is spent) and the gives of
        cancelled orders. A finished order's holder removes them right after
        its commit; this catches the ones a crash left behind. The gives of
        a completed order stay: its cancel did not commit, and its retry
        must find them; so do the takes of an unfinished order."""
        holders: set[str] = set()
        for doc in docs:
            holders.update(str(hold["order_id"]) for hold in doc.get(HOLDS) or ())
        if not holders:
            return
        statuses = {
            str(order["_id"]): OrderStatus(order["status"])
            for order in self._store.orders.find(
                {
                    "_id": {"$in": sorted(holders)},
                    "status": {"$in": [status.value for status in TERMINAL_STATUSES]},
                },
                {"_id": 1, "status": 1},
            )
        }
        if not statuses:
            return
        final = [order_id for order_id, status in statuses.items() if status.is_final]
        ids = [doc["_id"] for doc in docs]
        self._store.products.update_many(
            {"_id": {"$in": ids}},
            {"$pull": {HOLDS: {"order_id": {"$in": sorted(statuses)}, "quantity": {"$gt": 0}}}},
        )
        if final:
            self._store.products.update_many(
                {"_id": {"$in": ids}}, {"$pull": {HOLDS: {"order_id": {"$in": sorted(final)}}}}
            )
        for doc in docs:
            doc[HOLDS] = [
                h
                for h in doc.get(HOLDS) or ()
                if h["order_id"] not in statuses
                or (int(h["quantity"]) < 0 and h["order_id"] not in final)
            ]
