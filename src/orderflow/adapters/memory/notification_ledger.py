"""The notification ledger in memory: a dict under a lock (embedded mode with
`memory://` and the unit tests). It defines the reference semantics the
contract suite holds every adapter to."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
    Outcome,
)


class MemoryNotificationLedger(NotificationLedger):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, NotificationRecord] = {}

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        with self._lock:
            new = 0
            for notification_id, notification in items:
                if notification_id not in self._records:
                    self._records[notification_id] = NotificationRecord(
                        notification_id, notification, DeliveryState.PENDING, 0, now
                    )
                    new += 1
            return new

    def claim_due(self, *, now: datetime, limit: int, token: str) -> list[NotificationRecord]:
        with self._lock:
            due = sorted(
                (
                    r
                    for r in self._records.values()
                    if r.state is DeliveryState.PENDING and r.next_attempt_at <= now
                ),
                key=lambda r: (r.next_attempt_at, r.notification_id),
            )[: max(limit, 0)]
            claimed = []
            for record in due:
                record = replace(
                    record,
                    state=DeliveryState.SENDING,
                    attempts=record.attempts + 1,
                    claimed_at=now,
                    claimed_by=token,
                )
                self._records[record.notification_id] = record
                claimed.append(record)
            return claimed

    def release_claim(self, token: str) -> list[str]:
        with self._lock:
            released = sorted(
                r.notification_id
                for r in self._records.values()
                if r.state is DeliveryState.SENDING and r.claimed_by == token
            )
            for notification_id in released:
                record = self._records[notification_id]
                self._records[notification_id] = replace(
                    record,
                    state=DeliveryState.PENDING,
                    attempts=record.attempts - 1,
                    claimed_at=None,
                    claimed_by=None,
                )
            return released

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        with self._lock:
            for outcome in outcomes:
                record = self._records.get(outcome.notification_id)
                # Only the claim's outcome may settle it: a record that moved
                # on (abandoned as unknown, say) stays as it is.
                if record is None or record.state is not DeliveryState.SENDING:
                    continue
                if outcome.state is DeliveryState.SENT:
                    record = replace(record, state=outcome.state, sent_at=outcome.at)
                elif outcome.state is DeliveryState.PENDING and outcome.at is not None:
                    record = replace(
                        record,
                        state=outcome.state,
                        next_attempt_at=outcome.at,
                        last_error=outcome.error,
                    )
                else:
                    record = replace(record, state=outcome.state, last_error=outcome.error)
                self._records[outcome.notification_id] = record

    def abandon_claims(self, *, claimed_before: datetime) -> list[str]:
        with self._lock:
            stale = [
                r.notification_id
                for r in self._records.values()
                if r.state is DeliveryState.SENDING
                and r.claimed_at is not None
                and r.claimed_at < claimed_before
            ]
            for notification_id in stale:
                self._records[notification_id] = replace(
                    self._records[notification_id], state=DeliveryState.UNKNOWN
                )
            return sorted(stale)

    def get(self, notification_id: str) -> NotificationRecord | None:
        with self._lock:
            return self._records.get(notification_id)

    def pending_count(self) -> int:
        with self._lock:
            return sum(
                r.state in (DeliveryState.PENDING, DeliveryState.SENDING)
                for r in self._records.values()
            )
