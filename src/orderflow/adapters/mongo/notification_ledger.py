"""The notification ledger on MongoDB: one document per notification in the
`notifications` collection; every change is a single-document atomic update
(an upsert for record, find_one_and_update for each claim)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from orderflow.adapters.mongo.documents import (
    Document,
    before,
    get_time,
    put_time,
    time_fields,
    time_sort,
)
from orderflow.adapters.mongo.errors import translated
from orderflow.adapters.mongo.store import MongoStore
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
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


def _record_from(doc: Mapping[str, Any]) -> NotificationRecord:
    return NotificationRecord(
        notification_id=str(doc["_id"]),
        notification=Notification(
            order_id=doc["order_id"],
            status=doc["status"],
            recipient=doc["recipient"],
            subject=doc["subject"],
            body=doc["body"],
        ),
        state=DeliveryState(doc["state"]),
        attempts=int(doc["attempts"]),
        next_attempt_at=get_time(doc, "next_attempt_at"),
        claimed_at=get_time(doc, "claimed_at") if doc.get("claimed_at") else None,
        sent_at=get_time(doc, "sent_at") if doc.get("sent_at") else None,
        last_error=doc.get("last_error"),
    )


class MongoNotificationLedger(NotificationLedger):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.db[NOTIFICATIONS]
        self._indexed = False

    @translated
    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        self._ensure_index()
        new = 0
        for notification_id, n in items:
            doc: Document = {
                "order_id": n.order_id,
                "status": n.status,
                "recipient": n.recipient,
                "subject": n.subject,
                "body": n.body,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "last_error": None,
            }
            put_time(doc, "next_attempt_at", now)
            put_time(doc, "claimed_at", None)
            put_time(doc, "sent_at", None)
            result = self._collection.update_one(
                {"_id": notification_id}, {"$setOnInsert": doc}, upsert=True
            )
            new += result.upserted_id is not None
        return new

    @translated
    def claim_due(self, *, now: datetime, limit: int) -> list[NotificationRecord]:
        claimed: list[NotificationRecord] = []
        while len(claimed) < limit:
            doc = self._collection.find_one_and_update(
                {"state": DeliveryState.PENDING.value, **_due(now)},
                {
                    "$set": {
                        "state": DeliveryState.SENDING.value,
                        **time_fields("claimed_at", now),
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

    def mark_sent(self, notification_id: str, *, at: datetime) -> None:
        self._settle(
            notification_id, {"state": DeliveryState.SENT.value, **time_fields("sent_at", at)}
        )

    def retry_at(self, notification_id: str, *, at: datetime, error: str) -> None:
        self._settle(
            notification_id,
            {
                "state": DeliveryState.PENDING.value,
                "last_error": error[:2000],
                **time_fields("next_attempt_at", at),
            },
        )

    def give_up(self, notification_id: str, *, error: str) -> None:
        self._settle(
            notification_id, {"state": DeliveryState.GIVEN_UP.value, "last_error": error[:2000]}
        )

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

    @translated
    def _settle(self, notification_id: str, changes: Document) -> None:
        # Only the claim's outcome settles it: an abandoned record stays unknown.
        self._collection.update_one(
            {"_id": notification_id, "state": DeliveryState.SENDING.value}, {"$set": changes}
        )

    def _ensure_index(self) -> None:
        if not self._indexed:
            self._collection.create_index(
                [("state", ASCENDING), *time_sort("next_attempt_at")], name="due"
            )
            self._indexed = True
