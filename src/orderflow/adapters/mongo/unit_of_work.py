"""The MongoDB unit of work: staged writes applied at commit, in an order
that makes each commit atomic for what the services do, without
multi-document transactions (docs/MONGODB.md says why and how).

commit() applies, in this order:

1. independent writes: product upserts (seeding), outbox rows marked
   published, purges;
2. stock changes (inventory.py): conditional updates that fail rather than
   oversell; held units tagged with the locked order;
3. Idempotency-Key records, pending until their order exists;
4. orders: one single-document write per order that carries the order's
   new state, its outbox messages (embedded) and the release of its lock.
   This write is the commit point: before it every step is undone or
   settled by the next attempt, after it the change is durable;
5. outbox messages of a unit of work that writes no order, straight into
   the outbox collection;
6. clean-up that readers would otherwise do themselves: clear pending marks,
   drop holds of a finished order, release locks and claims."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from pymongo.errors import DuplicateKeyError, PyMongoError

from orderflow.adapters.mongo import locks
from orderflow.adapters.mongo.client import database_name, make_client
from orderflow.adapters.mongo.documents import (
    CLAIM_OWNER,
    CLAIM_UNTIL,
    EMBEDDED_OUTBOX,
    LOCK_OWNER,
    LOCK_UNTIL,
    OUTBOX_SEQ_COUNTER,
    PENDING,
    PENDING_SINCE,
    Document,
    idempotency_document,
    outbox_document,
    time_fields,
)
from orderflow.adapters.mongo.errors import translate_errors, translated
from orderflow.adapters.mongo.idempotency import MongoIdempotencyStore, records_before
from orderflow.adapters.mongo.inventory import StockChanges
from orderflow.adapters.mongo.outbox import (
    MongoOutbox,
    insert_messages,
    published_before,
    release_claims,
)
from orderflow.adapters.mongo.repositories import MongoOrderRepository, MongoProductRepository
from orderflow.adapters.mongo.staging import Staging
from orderflow.adapters.mongo.store import Leftover, MongoStore, Timings
from orderflow.adapters.outbox_notifications import OutboxNotificationRecorder
from orderflow.domain.errors import ConcurrentUpdate, StorageUnavailable
from orderflow.domain.model import OrderStatus
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class MongoUnitOfWork(UnitOfWork):
    """Reads are read-committed and see this unit of work's own staged
    writes by id. After a commit the block may go on with fresh staging."""

    orders: MongoOrderRepository
    products: MongoProductRepository
    outbox: MongoOutbox
    idempotency: MongoIdempotencyStore

    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._entered = False
        self._reset()

    def __enter__(self) -> Self:
        if self._entered:
            raise RuntimeError("this unit of work is already in use")
        self._entered = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self._entered = False

    def commit(self) -> None:
        if not self._entered:
            raise RuntimeError("commit outside of a 'with' block")
        staging = self._staging
        with translate_errors():
            _Commit(self._store, staging).run()
        _release_leftovers(self._store)
        # On failure the staging stays, so rollback() still knows which
        # locks and claims are this unit of work's to release.
        self._reset()

    def rollback(self) -> None:
        staging = self._staging
        self._reset()
        _release(self._store, staging)

    def _reset(self) -> None:
        self._staging = Staging()
        self.orders = MongoOrderRepository(self._store, self._staging)
        self.products = MongoProductRepository(self._store, self._staging)
        self.outbox = MongoOutbox(self._store, self._staging)
        # A commit is atomic per document (the order with its embedded
        # outbox), and a ledger record is a document of another collection:
        # notifications go through the outbox.
        self.notifications = OutboxNotificationRecorder(self.outbox)
        self.idempotency = MongoIdempotencyStore(self._store, self._staging)


class MongoUnitOfWorkFactory(UnitOfWorkFactory):
    # A commit is atomic per order document, and a unit of work's stock
    # holds are tagged with the one order it locked: one order at a time.
    batch_limit = 1

    def __init__(self, store: MongoStore) -> None:
        self.store = store

    @classmethod
    def from_url(cls, url: str, *, timings: Timings | None = None, **client_options: Any) -> Self:
        """For `mongodb://host:port/dbname` (database `orderflow` when the
        path is empty). Connects lazily: a down server fails the first use."""
        client = make_client(url, **client_options)
        return cls(MongoStore(client, client[database_name(url)], timings or Timings()))

    def __call__(self) -> MongoUnitOfWork:
        return MongoUnitOfWork(self.store)

    @translated
    def ping(self) -> None:
        self.store.client.admin.command("ping")

    def close(self) -> None:
        self.store.client.close()


class _Commit:
    """One application of a Staging (see the module docstring for the order)."""

    def __init__(self, store: MongoStore, staging: Staging) -> None:
        self._store = store
        self._s = staging
        self._stock = StockChanges(store, staging)
        self._inserted_records: list[str] = []
        self._inserted_orders: list[str] = []

    def run(self) -> None:
        self._independent_writes()
        self._stock.apply()
        messages = self._number_messages()
        try:
            self._insert_records()
            loose = self._write_orders(messages)
        except BaseException:
            self._undo()
            raise
        insert_messages(self._store, loose)
        try:
            self._clean_up()
        except PyMongoError as exc:
            # The commit point has passed: the change is durable. Whatever is
            # left here, readers and the next attempt settle (MONGODB.md).
            log.warning("mongo: clean-up after commit %s failed: %s", self._s.owner, exc)

    # -- 1 ------------------------------------------------------------------------------

    def _independent_writes(self) -> None:
        s, store = self._s, self._store
        for pid in sorted(s.upserted_products):
            doc = s.upserted_products[pid]
            fields = {key: value for key, value in doc.items() if key != "_id"}
            try:
                store.products.update_one({"_id": pid}, {"$set": fields}, upsert=True)
            except DuplicateKeyError:
                # A concurrent upsert inserted it first: now it is an update.
                store.products.update_one({"_id": pid}, {"$set": fields})
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for seq, at in s.published.items():
            by_time[at].append(seq)
        for at, seqs in by_time.items():
            store.outbox.update_many(
                {"_id": {"$in": sorted(seqs)}},
                {
                    "$set": {
                        **time_fields("published_at", at),
                        CLAIM_OWNER: None,
                        CLAIM_UNTIL: None,
                    }
                },
            )
        if s.purge_published_before is not None:
            store.outbox.delete_many(published_before(s.purge_published_before))
        if s.purge_records_before is not None:
            store.idempotency.delete_many(records_before(s.purge_records_before))

    # -- 3 ------------------------------------------------------------------------------

    def _number_messages(self) -> list[Document]:
        messages = self._s.messages
        if not messages:
            return []
        seqs = self._store.next_values(OUTBOX_SEQ_COUNTER, len(messages))
        return [outbox_document(m, seq) for m, seq in zip(messages, seqs, strict=True)]

    def _insert_records(self) -> None:
        s = self._s
        now = self._store.now()
        for key, record in s.records.items():
            doc = idempotency_document(record)
            if record.order_id in s.new_orders:
                doc[PENDING] = s.owner
                doc[PENDING_SINCE] = now
            self._store.idempotency.insert_one(doc)
            self._inserted_records.append(key)

    # -- 4 ------------------------------------------------------------------------------

    def _write_orders(self, messages: list[Document]) -> list[Document]:
        """Write every staged order with its messages embedded; returns the
        messages that belong to no written order."""
        s = self._s
        written = [*s.new_orders, *s.saved_orders]
        if not written:
            return messages
        embedded: dict[str, list[Document]] = defaultdict(list)
        for message in messages:
            # A message goes with the order it is about, else with the last
            # order written: either way in the same single-document write.
            target = message["key"] if message["key"] in written else written[-1]
            embedded[target].append(message)

        for order_id, doc in s.new_orders.items():
            extra = {EMBEDDED_OUTBOX: embedded[order_id]} if embedded[order_id] else {}
            self._store.orders.insert_one({**doc, **extra})
            self._inserted_orders.append(order_id)

        for order_id, fields in s.saved_orders.items():
            query: Document = {"_id": order_id}
            update: Document = {"$set": fields}
            if order_id in s.locked_orders:
                query[LOCK_OWNER] = s.owner
                update["$unset"] = {LOCK_OWNER: "", LOCK_UNTIL: ""}
            if order_id in s.order_versions:
                query["version"] = s.order_versions[order_id]
            if embedded[order_id]:
                update["$push"] = {EMBEDDED_OUTBOX: {"$each": embedded[order_id]}}
            # An order never read here is overwritten as it is (like the
            # memory adapter); one that was read must still be as read.
            result = self._store.orders.update_one(query, update, upsert=len(query) == 1)
            if result.matched_count == 0 and result.upserted_id is None:
                raise ConcurrentUpdate(
                    f"order {order_id} changed or its lock expired since it was read"
                )
        return []

    def _undo(self) -> None:
        """Before the commit point: take back what this commit wrote."""
        try:
            with translate_errors():
                if self._inserted_orders:
                    self._store.orders.delete_many({"_id": {"$in": self._inserted_orders}})
                if self._inserted_records:
                    self._store.idempotency.delete_many({"_id": {"$in": self._inserted_records}})
        except StorageUnavailable as exc:
            # Pending records are settled by readers; a crash leaves the same.
            log.warning("mongo: undo of commit %s incomplete: %s", self._s.owner, exc)
        self._stock.undo()

    # -- 6 ------------------------------------------------------------------------------

    def _clean_up(self) -> None:
        s, store = self._s, self._store
        pending = [key for key in self._inserted_records if s.records[key].order_id in s.new_orders]
        if pending:
            store.idempotency.update_many(
                {"_id": {"$in": pending}, PENDING: s.owner},
                {"$unset": {PENDING: "", PENDING_SINCE: ""}},
            )
        tag = s.hold_tag
        finished = tag in s.saved_orders and OrderStatus(s.saved_orders[tag]["status"]).is_terminal
        if tag is not None and finished:
            self._stock.drop_holds()
        _release(store, s, saved=set(s.saved_orders))


def _release(store: MongoStore, staging: Staging, *, saved: set[str] | None = None) -> None:
    """Release this unit of work's locks (except on orders whose save already
    released them) and outbox claims. Best effort: leases expire anyway. A
    release that fails is kept and made again after the next one that
    succeeds in this process (the database is back).

    `saved` is given after a commit: the orders it saved are unlocked and
    the messages it marked published are done. Without it (a rollback, a
    commit that failed included) every claim is released: a message
    published to the broker whose marking did not commit goes out again
    (at least once), now rather than after the claim lease."""
    orders = staging.locked_orders - (saved or set())
    done = set(staging.published) if saved is not None else set()
    claims = set(staging.claimed) - done
    if not (orders or staging.locked_products or claims):
        return
    leftover = Leftover(
        staging.owner, frozenset(orders), frozenset(staging.locked_products), frozenset(claims)
    )
    try:
        _release_leftover(store, leftover)
    except PyMongoError as exc:
        log.warning("mongo: releasing locks/claims of %s failed: %s", staging.owner, exc)
        store.leftovers.keep(leftover)
        return
    _release_leftovers(store)


def _release_leftovers(store: MongoStore) -> None:
    """The releases that failed earlier in this process, made again now
    that a write succeeded."""
    for earlier in store.leftovers.take():
        try:
            _release_leftover(store, earlier)
        except PyMongoError:
            store.leftovers.keep(earlier)
        else:
            log.info("mongo: released the locks/claims of %s after an outage", earlier.owner)


def _release_leftover(store: MongoStore, leftover: Leftover) -> None:
    # Each release matches only what `owner` still holds: a lease that ran
    # out and was taken by another unit of work meanwhile is left alone.
    locks.release(store.orders, leftover.orders, owner=leftover.owner)
    locks.release(store.products, leftover.products, owner=leftover.owner)
    release_claims(store, leftover.owner, leftover.claims)
