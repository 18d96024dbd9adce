"""The notification ledger on SQL: each method is one short transaction of
its own, so a dispatcher's claim is committed before it sends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, func, select, update

from orderflow.adapters.sqlalchemy.errors import translate_errors
from orderflow.adapters.sqlalchemy.statements import insert_new
from orderflow.adapters.sqlalchemy.tables import MYSQL_DIALECTS, notifications
from orderflow.domain.errors import DuplicateKey
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
)

_SKIP_LOCKED_DIALECTS = (*MYSQL_DIALECTS, "postgresql")
_OPEN = (DeliveryState.PENDING.value, DeliveryState.SENDING.value)


def _record_from(row: RowMapping) -> NotificationRecord:
    return NotificationRecord(
        notification_id=row["id"],
        notification=Notification(
            order_id=row["order_id"],
            status=row["status"],
            recipient=row["recipient"],
            subject=row["subject"],
            body=row["body"],
        ),
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        claimed_at=row["claimed_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


class SqlNotificationLedger(NotificationLedger):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        new = 0
        with self._transaction() as connection:
            for notification_id, n in items:
                row: dict[str, Any] = {
                    "id": notification_id,
                    "order_id": n.order_id,
                    "status": n.status,
                    "recipient": n.recipient,
                    "subject": n.subject,
                    "body": n.body,
                    "state": DeliveryState.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                try:
                    insert_new(connection, notifications, row, key=notifications.c.id, what="")
                except DuplicateKey:
                    continue
                new += 1
        return new

    def claim_due(self, *, now: datetime, limit: int) -> list[NotificationRecord]:
        if limit <= 0:
            return []
        with self._transaction() as connection:
            statement = (
                select(notifications)
                .where(
                    notifications.c.state == DeliveryState.PENDING.value,
                    notifications.c.next_attempt_at <= now,
                )
                .order_by(notifications.c.next_attempt_at, notifications.c.id)
                .limit(limit)
            )
            if connection.dialect.name in _SKIP_LOCKED_DIALECTS:
                statement = statement.with_for_update(skip_locked=True)
            rows = list(connection.execute(statement).mappings())
            if not rows:
                return []
            ids = [row["id"] for row in rows]
            connection.execute(
                update(notifications)
                .where(notifications.c.id.in_(ids))
                .values(
                    state=DeliveryState.SENDING.value,
                    attempts=notifications.c.attempts + 1,
                    claimed_at=now,
                )
            )
            claimed = connection.execute(
                select(notifications)
                .where(notifications.c.id.in_(ids))
                .order_by(notifications.c.next_attempt_at, notifications.c.id)
            ).mappings()
            return [_record_from(row) for row in claimed]

    def mark_sent(self, notification_id: str, *, at: datetime) -> None:
        self._settle(notification_id, state=DeliveryState.SENT.value, sent_at=at)

    def retry_at(self, notification_id: str, *, at: datetime, error: str) -> None:
        self._settle(
            notification_id,
            state=DeliveryState.PENDING.value,
            next_attempt_at=at,
            last_error=error[:2000],
        )

    def give_up(self, notification_id: str, *, error: str) -> None:
        self._settle(notification_id, state=DeliveryState.GIVEN_UP.value, last_error=error[:2000])

    def abandon_claims(self, *, claimed_before: datetime) -> list[str]:
        stale = (
            notifications.c.state == DeliveryState.SENDING.value,
            notifications.c.claimed_at < claimed_before,
        )
        with self._transaction() as connection:
            ids = sorted(
                connection.execute(select(notifications.c.id).where(*stale)).scalars().all()
            )
            if ids:
                connection.execute(
                    update(notifications)
                    .where(notifications.c.id.in_(ids), *stale)
                    .values(state=DeliveryState.UNKNOWN.value)
                )
            return ids

    def get(self, notification_id: str) -> NotificationRecord | None:
        with self._transaction() as connection:
            row = (
                connection.execute(
                    select(notifications).where(notifications.c.id == notification_id)
                )
                .mappings()
                .first()
            )
            return _record_from(row) if row is not None else None

    def pending_count(self) -> int:
        with self._transaction() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(notifications)
                    .where(notifications.c.state.in_(_OPEN))
                ).scalar_one()
            )

    def _settle(self, notification_id: str, **values: Any) -> None:
        with self._transaction() as connection:
            # Only the claim's outcome settles it: an abandoned record stays unknown.
            connection.execute(
                update(notifications)
                .where(
                    notifications.c.id == notification_id,
                    notifications.c.state == DeliveryState.SENDING.value,
                )
                .values(**values)
            )

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with translate_errors(), self._engine.begin() as connection:
            yield connection
