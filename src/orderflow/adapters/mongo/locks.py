"""Document locks: what SELECT ... FOR UPDATE gives the SQL adapter.

A lock is two fields on the document, `lock_owner` (a unit of work's id) and
`lock_until` (a lease). Taking it is one atomic find-and-modify that matches
only when the document is unlocked, already ours, or its lease ran out, so
two units of work can never both hold it. A unit of work releases its locks
when it ends; a crashed one's locks lapse with the lease."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection

from orderflow.adapters.mongo.documents import LOCK_OWNER, LOCK_UNTIL, Document
from orderflow.adapters.mongo.store import MongoStore
from orderflow.domain.errors import ConcurrentUpdate

_POLL_FIRST_S = 0.005
_POLL_MAX_S = 0.1

UNLOCK: Document = {"$unset": {LOCK_OWNER: "", LOCK_UNTIL: ""}}


def acquire(
    store: MongoStore,
    collection: Collection[Document],
    doc_id: str,
    *,
    owner: str,
    projection: dict[str, Any] | None = None,
) -> Document | None:
    """Lock the document and return it (as locked), or None if it does not
    exist. Waits for another holder up to `lock_wait`, then raises
    ConcurrentUpdate (transient: the caller retries)."""
    timings = store.timings
    deadline = time.monotonic() + timings.lock_wait.total_seconds()
    pause = _POLL_FIRST_S
    while True:
        now = store.now()
        doc = collection.find_one_and_update(
            {
                "_id": doc_id,
                "$or": [{LOCK_OWNER: None}, {LOCK_OWNER: owner}, {LOCK_UNTIL: {"$lt": now}}],
            },
            {"$set": {LOCK_OWNER: owner, LOCK_UNTIL: now + timings.lock_lease}},
            projection=projection,
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return doc
        if collection.find_one({"_id": doc_id}, {"_id": 1}) is None:
            return None
        if time.monotonic() >= deadline:
            raise ConcurrentUpdate(
                f"{collection.name} {doc_id} stayed locked by another unit of work for "
                f"{timings.lock_wait.total_seconds():g} s"
            )
        time.sleep(pause)
        pause = min(pause * 2, _POLL_MAX_S)


def release(collection: Collection[Document], doc_ids: Iterable[str], *, owner: str) -> None:
    ids = sorted(doc_ids)
    if ids:
        collection.update_many({"_id": {"$in": ids}, LOCK_OWNER: owner}, UNLOCK)
