"""What every unit of work of one factory shares: the client, the database's
collections, and the timings of locks and claims."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pymongo import MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from orderflow.adapters.mongo.documents import (
    API_KEYS,
    COUNTERS,
    IDEMPOTENCY,
    ORDERS,
    OUTBOX,
    PRODUCTS,
    Document,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Timings:
    """Leases are wall-clock times written into documents, so they assume
    the clocks of the machines sharing a database agree to well within them."""

    lock_lease: timedelta = timedelta(seconds=5)
    """How long an order lock holds if its unit of work never ends (a crash)."""
    lock_wait: timedelta = timedelta(seconds=7)
    """How long get_for_update waits for a lock; longer than the lease, so a
    crashed holder delays the next one but never fails it. Both stay under
    the Kafka consumer's max_poll_interval (10 s): a worker waiting out a
    killed worker's lock must not be evicted from its group (the fault
    suite saw all three evicted at once, and the group left unassigned)."""
    claim_lease: timedelta = timedelta(seconds=60)
    """How long a relay's claim on outbox messages holds if it never ends."""
    abandon_after: timedelta = timedelta(seconds=60)
    """When an idempotency key whose order never arrived counts as abandoned."""


@dataclass(frozen=True, slots=True)
class Leftover:
    """What a unit of work could not release when it ended (the database
    was away): its order and product locks and its outbox claims."""

    owner: str
    orders: frozenset[str]
    products: frozenset[str]
    claims: frozenset[int]


class Leftovers:
    """The releases that failed in this process, to be made again once the
    database answers: otherwise an outbox claim would hold its messages for
    the whole claim lease (60 s) after an outage of a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: list[Leftover] = []

    def keep(self, leftover: Leftover) -> None:
        with self._lock:
            self._kept.append(leftover)

    def take(self) -> list[Leftover]:
        if not self._kept:  # the common case, without the lock
            return []
        with self._lock:
            taken, self._kept = self._kept, []
        return taken


@dataclass(frozen=True)
class MongoStore:
    client: MongoClient[Document]
    db: Database[Document]
    timings: Timings = field(default_factory=Timings)
    # The wall clock for leases, not the domain's Clock: a test's fake clock
    # must not make every lock look expired.
    now: Callable[[], datetime] = _utc_now
    leftovers: Leftovers = field(default_factory=Leftovers, compare=False)

    @property
    def orders(self) -> Collection[Document]:
        return self.db[ORDERS]

    @property
    def products(self) -> Collection[Document]:
        return self.db[PRODUCTS]

    @property
    def outbox(self) -> Collection[Document]:
        return self.db[OUTBOX]

    @property
    def idempotency(self) -> Collection[Document]:
        return self.db[IDEMPOTENCY]

    @property
    def api_keys(self) -> Collection[Document]:
        return self.db[API_KEYS]

    @property
    def counters(self) -> Collection[Document]:
        return self.db[COUNTERS]

    def next_values(self, name: str, count: int) -> range:
        """`count` fresh values of the named counter, increasing across calls
        (one atomic $inc, so concurrent callers get disjoint ranges)."""
        try:
            doc = self._increment(name, count)
        except DuplicateKeyError:
            # Two first-ever upserts of the counter raced; it exists now.
            doc = self._increment(name, count)
        last = int(doc["value"])
        return range(last - count + 1, last + 1)

    def _increment(self, name: str, count: int) -> Document:
        doc = self.counters.find_one_and_update(
            {"_id": name},
            {"$inc": {"value": count}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # cannot happen with upsert and AFTER
            raise RuntimeError(f"counter {name} was not created")
        return doc
