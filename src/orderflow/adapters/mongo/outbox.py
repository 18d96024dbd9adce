"""The transactional outbox without transactions.

A unit of work that writes an order embeds its outbox messages in that
order's document (unit_of_work.py): the state change and the messages that
announce it are one single-document write, so no crash can separate them.
Each message gets its `seq` from the counters collection at commit.

The relay's claim_batch first moves embedded messages into the `outbox`
collection (an insert whose `_id` is the seq, so moving twice is harmless,
then a $pull from the order), then claims unpublished messages by setting
`claim_owner`/`claim_until` on them: a concurrent relay skips claimed ones
until the claim is released (rollback) or expires."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from orderflow.adapters.mongo.documents import (
    CLAIM_OWNER,
    CLAIM_UNTIL,
    EMBEDDED_OUTBOX,
    Document,
    before,
    outbox_message_from,
)
from orderflow.adapters.mongo.errors import is_duplicate_key, translated
from orderflow.adapters.mongo.staging import Staging
from orderflow.adapters.mongo.store import MongoStore
from orderflow.ports.outbox import Outbox, OutboxMessage

EMBEDDED_SEQ = f"{EMBEDDED_OUTBOX}._id"
UNPUBLISHED: Document = {"published_at": None}


def insert_messages(store: MongoStore, docs: Sequence[Document]) -> None:
    """Insert outbox documents; ones already there (same seq or message id:
    a message moved twice, an event added twice) are skipped."""
    if not docs:
        return
    try:
        store.outbox.insert_many(list(docs), ordered=False)
    except BulkWriteError as error:
        if not is_duplicate_key(error):
            raise


def move_embedded(store: MongoStore, *, limit: int) -> int:
    """Move the messages embedded in up to `limit` orders into the outbox
    collection; returns how many orders were moved from."""
    orders = list(
        store.orders.find({EMBEDDED_SEQ: {"$exists": True}}, {EMBEDDED_OUTBOX: 1}).limit(limit)
    )
    if not orders:
        return 0
    insert_messages(store, [message for order in orders for message in order[EMBEDDED_OUTBOX]])
    store.orders.bulk_write(
        [
            UpdateOne(
                {"_id": order["_id"]},
                {
                    "$pull": {
                        EMBEDDED_OUTBOX: {
                            "_id": {"$in": [message["_id"] for message in order[EMBEDDED_OUTBOX]]}
                        }
                    }
                },
            )
            for order in orders
        ],
        ordered=False,
    )
    return len(orders)


def release_claims(store: MongoStore, owner: str, seqs: Iterable[int]) -> None:
    seqs = list(seqs)
    if seqs:
        store.outbox.update_many(
            {"_id": {"$in": seqs}, CLAIM_OWNER: owner},
            {"$set": {CLAIM_OWNER: None, CLAIM_UNTIL: None}},
        )


class MongoOutbox(Outbox):
    def __init__(self, store: MongoStore, staging: Staging) -> None:
        self._store = store
        self._s = staging

    def add(self, messages: Sequence[OutboxMessage]) -> None:
        self._s.messages.extend(messages)

    @translated
    def claim_batch(self, *, limit: int) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        move_embedded(self._store, limit=limit)
        now = self._store.now()
        claimable: Document = {
            **UNPUBLISHED,
            "$or": [{CLAIM_UNTIL: None}, {CLAIM_UNTIL: {"$lt": now}}],
        }
        candidates = [
            doc["_id"]
            for doc in self._store.outbox.find(claimable, {"_id": 1}).sort("_id", 1).limit(limit)
        ]
        if not candidates:
            return []
        # Counted as ours before the claim: if its answer is lost (the claim
        # may have been made), the release at the end of the unit of work
        # still covers them; it matches this owner only, so a candidate
        # another relay won is left alone.
        self._s.claimed.extend(int(seq) for seq in candidates)
        # Each document is claimed atomically; ones another relay claimed in
        # between no longer match and are simply not ours.
        self._store.outbox.update_many(
            {"_id": {"$in": candidates}, **claimable},
            {
                "$set": {
                    CLAIM_OWNER: self._s.owner,
                    CLAIM_UNTIL: now + self._store.timings.claim_lease,
                }
            },
        )
        claimed = list(
            self._store.outbox.find({"_id": {"$in": candidates}, CLAIM_OWNER: self._s.owner}).sort(
                "_id", 1
            )
        )
        return [outbox_message_from(doc) for doc in claimed]

    def mark_published(self, *, seqs: Sequence[int], at: datetime) -> None:
        for seq in seqs:
            self._s.published[int(seq)] = at

    @translated
    def pending_count(self) -> int:
        stored = self._store.outbox.count_documents(UNPUBLISHED)
        embedded = sum(
            len(order[EMBEDDED_OUTBOX])
            for order in self._store.orders.find(
                {EMBEDDED_SEQ: {"$exists": True}}, {EMBEDDED_OUTBOX: 1}
            )
        )
        return stored + embedded + len(self._s.messages)

    @translated
    def purge_published(self, *, older_than: datetime) -> int:
        self._s.purge_published_before = older_than
        return self._store.outbox.count_documents(published_before(older_than))


def published_before(cutoff: datetime) -> dict[str, Any]:
    return {"published_at": {"$ne": None}, **before("published_at", cutoff)}
