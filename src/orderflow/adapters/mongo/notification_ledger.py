"""The notification ledger on MongoDB: one document per notification in the
`notifications` collection; every change is a single-document atomic update
(upserts for record and outcomes for settle, each batch in one bulk write;
find_one_and_update for each claim, update_one for each released record)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from orderflow.adapters.mongo.documents import (
    Document,
    before,
    get_time,
    put_time,
    time_fields,
    time_sort,
)
from orderflow.adapters.mongo.errors import is_duplicate_key, translated
from orderflow.adapters.mongo.store import MongoStore
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
    Outcome,
)

NOTIFICATIONS = "notifications"


def _due(now: datetime) -> Document:
    """next_attempt_at <= now, exactly (BSON dates hold milliseconds only)."""
    bound = time_fields("next_attempt_at", now)
    return {
        "$or": [
            {"next_attempt_at": {"$lt": bound["next_attempt_at"]}},
            {
                "next_attempt_at": bound["next_attempt_at"],
                "next_attempt_at_us": {"$lte": bound["next_attempt_at_us"]},
            },
        ]
    }


def _changes(outcome: Outcome) -> Document:
    """The fields an outcome sets."""
    changes: Document = {"state": outcome.state.value}
    if outcome.state is DeliveryState.SENT:
        changes.update(time_fields("sent_at", outcome.at))
        return changes
    changes["last_error"] = (outcome.error or "")[:2000]
    if outcome.state is DeliveryState.PENDING:
        changes.update(time_fields("next_attempt_at", outcome.at))
    return changes


def _record_from(doc: Mapping[str, Any]) -> NotificationRecord:
    return NotificationRecord(
        notification_id=str(doc["_id"]),
        notification=Notification(
            order_id=doc["order_id"],
            status=doc["status"],
            recipient=doc["recipient"],
            subject=doc["subject"],
            body=doc["body"],
            trace_headers=dict(doc.get("trace_headers") or {}),
        ),
        state=DeliveryState(doc["state"]),
        attempts=int(doc["attempts"]),
        next_attempt_at=get_time(doc, "next_attempt_at"),
        claimed_at=get_time(doc, "claimed_at") if doc.get("claimed_at") else None,
        sent_at=get_time(doc, "sent_at") if doc.get("sent_at") else None,
        last_error=doc.get("last_error"),
        claimed_by=doc.get("claimed_by"),
    )


class MongoNotificationLedger(NotificationLedger):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.db[NOTIFICATIONS]
        self._indexed = False

    @translated
    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        self._ensure_index()
        upserts: dict[str, UpdateOne] = {}
        for notification_id, n in items:
            if notification_id in upserts:
                continue
            doc: Document = {
                "order_id": n.order_id,
                "status": n.status,
                "recipient": n.recipient,
                "subject": n.subject,
                "body": n.body,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "last_error": None,
                "claimed_by": None,
            }
            if n.trace_headers:
                doc["trace_headers"] = dict(n.trace_headers)
            put_time(doc, "next_attempt_at", now)
            put_time(doc, "claimed_at", None)
            put_time(doc, "sent_at", None)
            upserts[notification_id] = UpdateOne(
                {"_id": notification_id}, {"$setOnInsert": doc}, upsert=True
            )
        if not upserts:
            return 0
        # One round trip; each upsert is atomic on its own and leaves a stored
        # id as it is, so a batch cut short is completed by recording it again.
        try:
            result = self._collection.bulk_write(list(upserts.values()), ordered=False)
        except BulkWriteError as error:
            # Another relay inserted some of these ids between our upserts'
            # lookups and inserts: those are not new, the others are stored.
            if not is_duplicate_key(error):
                raise
            return int((error.details or {}).get("nUpserted", 0))
        return int(result.upserted_count)

    @translated
    def claim_due(self, *, now: datetime, limit: int, token: str) -> list[NotificationRecord]:
        claimed: list[NotificationRecord] = []
        while len(claimed) < limit:
            doc = self._collection.find_one_and_update(
                {"state": DeliveryState.PENDING.value, **_due(now)},
                {
                    "$set": {
                        "state": DeliveryState.SENDING.value,
                        **time_fields("claimed_at", now),
                        "claimed_by": token,
                    },
                    "$inc": {"attempts": 1},
                },
                sort=[*time_sort("next_attempt_at"), ("_id", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(_record_from(doc))
        return claimed

    @translated
    def settle(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        # One round trip; only the claim's outcome settles a record (an
        # abandoned one stays unknown), so writing the batch again after a
        # lost acknowledgement changes nothing.
        self._collection.bulk_write(
            [
                UpdateOne(
                    {"_id": outcome.notification_id, "state": DeliveryState.SENDING.value},
                    {"$set": _changes(outcome)},
                )
                for outcome in outcomes
            ],
            ordered=False,
        )

    @translated
    def release_claim(self, token: str) -> list[str]:
        # state first: the `due` index (state, next_attempt_at) finds the few
        # records under way, so claimed_by needs no index of its own.
        held = {"state": DeliveryState.SENDING.value, "claimed_by": token}
        ids = sorted(str(doc["_id"]) for doc in self._collection.find(held, {"_id": 1}))
        released = []
        for notification_id in ids:
            # Each record atomically, and only while it is still this claim's:
            # one abandoned as unknown meanwhile stays so.
            result = self._collection.update_one(
                {"_id": notification_id, **held},
                {
                    "$set": {
                        "state": DeliveryState.PENDING.value,
                        "claimed_by": None,
                        **time_fields("claimed_at", None),
                    },
                    "$inc": {"attempts": -1},
                },
            )
            if result.modified_count:
                released.append(notification_id)
        return released

    @translated
    def abandon_claims(self, *, claimed_before: datetime) -> list[str]:
        stale = {"state": DeliveryState.SENDING.value, **before("claimed_at", claimed_before)}
        ids = sorted(str(doc["_id"]) for doc in self._collection.find(stale, {"_id": 1}))
        abandoned = []
        for notification_id in ids:
            result = self._collection.update_one(
                {"_id": notification_id, **stale}, {"$set": {"state": DeliveryState.UNKNOWN.value}}
            )
            if result.modified_count:
                abandoned.append(notification_id)
        return abandoned

    @translated
    def get(self, notification_id: str) -> NotificationRecord | None:
        doc = self._collection.find_one({"_id": notification_id})
        return _record_from(doc) if doc is not None else None

    @translated
    def pending_count(self) -> int:
        open_states = [DeliveryState.PENDING.value, DeliveryState.SENDING.value]
        return int(self._collection.count_documents({"state": {"$in": open_states}}))

    def _ensure_index(self) -> None:
        if not self._indexed:
            self._collection.create_index(
                [("state", ASCENDING), *time_sort("next_attempt_at")], name="due"
            )
            self._indexed = True
