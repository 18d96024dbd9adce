"""Idempotency-Key records, one document per key (`_id` is the key, so the
key is unique by construction).

A record added in the same unit of work as its order is inserted *before*
the order, marked `pending` with the unit of work's id: the insert claims
the key (a concurrent request with the same key gets DuplicateKey, as the
placing service expects), and the order's insert is the commit point.
A reader that finds a pending record settles it:

- its order exists: the commit went through; the mark is dropped.
- its order does not exist and the record is older than `abandon_after`:
  the committing process died in between; the record is deleted and the
  key is free again.
- otherwise the commit is in flight: wait for it (like a row lock would),
  and if it is still in flight after `lock_wait`, ConcurrentUpdate."""

from __future__ import annotations

import time
from datetime import datetime

from orderflow.adapters.mongo.documents import (
    PENDING,
    PENDING_SINCE,
    Document,
    before,
    idempotency_record_from,
)
from orderflow.adapters.mongo.errors import translated
from orderflow.adapters.mongo.staging import Staging
from orderflow.adapters.mongo.store import MongoStore
from orderflow.domain.errors import ConcurrentUpdate, DuplicateKey
from orderflow.ports.idempotency import IdempotencyRecord, IdempotencyStore

_POLL_FIRST_S = 0.005
_POLL_MAX_S = 0.1


def records_before(cutoff: datetime) -> Document:
    return before("created_at", cutoff)


class MongoIdempotencyStore(IdempotencyStore):
    def __init__(self, store: MongoStore, staging: Staging) -> None:
        self._store = store
        self._s = staging

    @translated
    def get(self, key: str) -> IdempotencyRecord | None:
        if not isinstance(key, str):
            return None
        if key in self._s.records:
            return self._s.records[key]
        timings = self._store.timings
        deadline = time.monotonic() + timings.lock_wait.total_seconds()
        pause = _POLL_FIRST_S
        while True:
            doc = self._store.idempotency.find_one({"_id": key})
            if doc is None:
                return None
            if doc.get(PENDING) is None:
                return idempotency_record_from(doc)
            if self._settle(doc):
                return idempotency_record_from(doc)
            if time.monotonic() >= deadline:
                raise ConcurrentUpdate(
                    f"a request with Idempotency-Key {key!r} is still being committed"
                )
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX_S)

    def add(self, record: IdempotencyRecord) -> None:
        if record.key in self._s.records:
            raise DuplicateKey(f"idempotency key {record.key!r} already added in this unit of work")
        self._s.records[record.key] = record

    @translated
    def purge(self, *, older_than: datetime) -> int:
        self._s.purge_records_before = older_than
        return self._store.idempotency.count_documents(records_before(older_than))

    def _settle(self, doc: Document) -> bool:
        """True if the pending record turned out committed (and is now marked so)."""
        owner = doc[PENDING]
        if self._store.orders.find_one({"_id": doc["order_id"]}, {"_id": 1}) is not None:
            self._store.idempotency.update_one(
                {"_id": doc["_id"], PENDING: owner}, {"$unset": {PENDING: "", PENDING_SINCE: ""}}
            )
            return True
        since = doc.get(PENDING_SINCE)
        if isinstance(since, datetime) and (
            self._store.now() - since >= self._store.timings.abandon_after
        ):
            self._store.idempotency.delete_one({"_id": doc["_id"], PENDING: owner})
        return False
