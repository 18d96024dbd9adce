"""The fault rig's stores: how each is provisioned, how the rig reads what
it holds, and how many orders each scenario sends through it.

The rig checks what the stack did by reading the store directly, not
through orderflow's own adapters: a check that reused the code under test
would agree with it when both are wrong. One StoreView per kind of store
(SQL tables for MariaDB and PostgreSQL, collections for MongoDB), both
answering in the same terms (StoredOrder)."""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from orderflow.adapters.sqlalchemy import tables
from orderflow.adapters.sqlalchemy.engine import make_engine
from tests.support import services
from tests.support.processes import Service

STORES = ("mariadb", "postgresql", "mongodb")


@dataclass(frozen=True)
class Scale:
    """How much of each scenario a store runs. Every fault kind runs on
    every store; the MongoDB stand-in (about 10 ms a write) gets fewer
    orders so the suite fits CI's time budget (docs/RELIABILITY.md)."""

    orders: float  # the fraction of each scenario's orders
    pace: float  # the fraction of each scenario's request rate
    kills: int  # workers killed mid-batch in scenario 1...
    intake_s: float  # ...while its intake lasts this long (a kill and its rebalance take 6-8 s)

    def count(self, n: int, *, least: int = 10) -> int:
        return max(least, round(n * self.orders))

    def rate(self, per_second: float) -> float:
        return per_second * self.pace


SCALES = {
    "mariadb": Scale(orders=0.8, pace=1.0, kills=4, intake_s=27),
    "postgresql": Scale(orders=0.3, pace=1.0, kills=3, intake_s=24),
    "mongodb": Scale(orders=0.1, pace=0.4, kills=3, intake_s=24),
}


@dataclass(frozen=True)
class StoredOrder:
    id: str
    status: str
    version: int
    email: str
    items: list[tuple[str, int]]  # (product id, quantity)
    failure_reason: str | None
    updated_at: datetime  # aware, UTC
    path: tuple[str, ...]  # every status it reached, oldest first (its history)
    reserved: dict[str, int] | None  # units held from stock; None: not recorded


class StoreView(ABC):
    """Read-only access to what the stack stored."""

    @abstractmethod
    def orders(self, ids: Iterable[str] | None = None) -> list[StoredOrder]:
        """Every stored order, or those of `ids` that are stored."""

    @abstractmethod
    def ids_with_status(self, status: str) -> list[str]: ...

    @abstractmethod
    def stock(self, product_ids: Iterable[str]) -> dict[str, int]: ...

    @abstractmethod
    def outbox_backlog(self) -> int:
        """Outbox messages not yet published."""

    @abstractmethod
    def ledger_state(self, order_id: str, status: str) -> str:
        """The order's notification records of one status, for a failure message."""

    @abstractmethod
    def close(self) -> None: ...

    def statuses(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        return {order.id: order.status for order in self.orders(ids)}


class SqlStoreView(StoreView):
    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)

    def orders(self, ids: Iterable[str] | None = None) -> list[StoredOrder]:
        o = tables.orders
        query = select(
            o.c.id,
            o.c.status,
            o.c.version,
            o.c.customer_email,
            o.c["items"],  # not o.c.items: ColumnCollection.items()
            o.c.failure_reason,
            o.c.updated_at,
            o.c.history,
            o.c.reserved,
        )
        wanted = None if ids is None else set(ids)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            StoredOrder(
                id=r.id,
                status=r.status,
                version=r.version,
                email=r.customer_email,
                items=[(i["product_id"], int(i["quantity"])) for i in r.items],
                failure_reason=r.failure_reason,
                updated_at=r.updated_at,
                path=tuple(step["status"] for step in r.history or ()),
                reserved=r.reserved,
            )
            for r in rows
            if wanted is None or r.id in wanted
        ]

    def ids_with_status(self, status: str) -> list[str]:
        o = tables.orders
        with self.engine.connect() as connection:
            return list(connection.execute(select(o.c.id).where(o.c.status == status)).scalars())

    def stock(self, product_ids: Iterable[str]) -> dict[str, int]:
        p = tables.products
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(p.c.id, p.c.stock).where(p.c.id.in_(list(product_ids)))
            ).all()
        return {r.id: int(r.stock) for r in rows}

    def outbox_backlog(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(tables.outbox)
                    .where(tables.outbox.c.published_at.is_(None))
                ).scalar_one()
            )

    def ledger_state(self, order_id: str, status: str) -> str:
        n = tables.notifications
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(
                    n.c.state, n.c.attempts, n.c.claimed_at, n.c.claimed_by, n.c.last_error
                ).where(n.c.order_id == order_id, n.c.status == status)
            ).all()
        return (
            "; ".join(
                f"{r.state}, {r.attempts} attempts, claimed {r.claimed_at} by {r.claimed_by}, "
                f"error {r.last_error}"
                for r in rows
            )
            or "no record"
        )

    def close(self) -> None:
        self.engine.dispose()


class MongoStoreView(StoreView):
    """The collections as docs/MONGODB.md describes them: an order's outbox
    messages ride inside it (`outbox`) until the relay moves them to the
    `outbox` collection; a time is a date plus `<field>_us` microseconds."""

    def __init__(self, url: str) -> None:
        from pymongo import MongoClient
        from pymongo.uri_parser import parse_uri

        self.client: MongoClient[dict[str, Any]] = MongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=10_000
        )
        self.db = self.client[parse_uri(url)["database"] or "orderflow"]

    def orders(self, ids: Iterable[str] | None = None) -> list[StoredOrder]:
        query: dict[str, Any] = {} if ids is None else {"_id": {"$in": list(ids)}}
        fields = (
            "status",
            "version",
            "customer",
            "items",
            "failure_reason",
            "updated_at",
            "history",
            "reserved",
        )
        projection = {name: 1 for name in fields} | {"updated_at_us": 1}
        return [
            StoredOrder(
                id=str(d["_id"]),
                status=d["status"],
                version=int(d["version"]),
                email=d["customer"]["email"],
                items=[(i["product_id"], int(i["quantity"])) for i in d["items"]],
                failure_reason=d.get("failure_reason"),
                updated_at=d["updated_at"].astimezone(UTC)
                + timedelta(microseconds=int(d.get("updated_at_us") or 0)),
                path=tuple(step["status"] for step in d.get("history") or ()),
                reserved=d.get("reserved"),
            )
            for d in self.db.orders.find(query, projection)
        ]

    def ids_with_status(self, status: str) -> list[str]:
        return [str(d["_id"]) for d in self.db.orders.find({"status": status}, {"_id": 1})]

    def stock(self, product_ids: Iterable[str]) -> dict[str, int]:
        found = self.db.products.find({"_id": {"$in": list(product_ids)}}, {"stock": 1})
        return {str(d["_id"]): int(d["stock"]) for d in found}

    def outbox_backlog(self) -> int:
        stored = self.db.outbox.count_documents({"published_at": None})
        embedded = sum(
            len(d.get("outbox") or ())
            for d in self.db.orders.find({"outbox.0": {"$exists": True}}, {"outbox": 1})
        )
        return stored + embedded

    def ledger_state(self, order_id: str, status: str) -> str:
        records = self.db.notifications.find({"order_id": order_id, "status": status})
        return (
            "; ".join(
                f"{d.get('state')}, {d.get('attempts')} attempts, claimed by "
                f"{d.get('claimed_by')}, error {d.get('last_error')}"
                for d in records
            )
            or "no record"
        )

    def close(self) -> None:
        self.client.close()


def view_of(store: str, url: str) -> StoreView:
    return MongoStoreView(url) if store == "mongodb" else SqlStoreView(url)


def provision(store: str) -> Service:
    """A fresh, empty database of `store` for one fault run. A server given
    by ORDERFLOW_TEST_<MYSQL|POSTGRES|MONGO>_URL is used when set (a
    scratch database on it); otherwise the machine's (MariaDB, PostgreSQL)
    or a wire server started for the run (MongoDB)."""
    if store == "mariadb":
        given = os.environ.get("ORDERFLOW_TEST_MYSQL_URL")
        return services.scratch_database(given) if given else services.ensure_mariadb()
    if store == "postgresql":
        given = os.environ.get("ORDERFLOW_TEST_POSTGRES_URL")
        return services.scratch_database(given) if given else services.ensure_postgres()
    if store == "mongodb":
        given = os.environ.get("ORDERFLOW_TEST_MONGO_URL")
        database = f"orderflow_faults_{uuid.uuid4().hex[:8]}"
        if given:
            return Service("mongo", f"{given.rstrip('/')}/{database}")
        server = services.start_mongo()
        server.url = f"{server.url.rstrip('/')}/{database}"
        return server
    raise ValueError(f"unknown store {store!r}: one of {', '.join(STORES)}")
