"""The notification ledger on SQL: each method is one short transaction of
its own, so a dispatcher's claim is committed before it sends."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Select, bindparam, func, select, update

from orderflow.adapters.sqlalchemy.errors import translate_errors, translated
from orderflow.adapters.sqlalchemy.statements import (
    DriverInsert,
    bulk_update,
    insert_ignoring_duplicates,
)
from orderflow.adapters.sqlalchemy.tables import MYSQL_DIALECTS, notifications
from orderflow.ports.notifier import (
    DeliveryState,
    Notification,
    NotificationLedger,
    NotificationRecord,
    NotificationRecorder,
    Outcome,
)

_SKIP_LOCKED_DIALECTS = (*MYSQL_DIALECTS, "postgresql")
_OPEN = (DeliveryState.PENDING.value, DeliveryState.SENDING.value)
_COLUMNS = (
    "id",
    "order_id",
    "status",
    "recipient",
    "subject",
    "body",
    "state",
    "attempts",
    "next_attempt_at",
    "claimed_at",
    "sent_at",
    "last_error",
    "trace_headers",
    "claimed_by",
)


# The dispatcher's statements, built once (building them cost more than
# SQLAlchemy's compiled cache saved).
_CLAIM = (
    update(notifications)
    .where(notifications.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        state=DeliveryState.SENDING.value,
        attempts=notifications.c.attempts + 1,
        claimed_at=bindparam("now"),
        claimed_by=bindparam("token"),
    )
)


@functools.lru_cache(maxsize=16)
def _due_statement(limit: int, skip_locked: bool) -> Select[Any]:
    """Up to `limit` pending records due at :now, oldest due first."""
    statement = (
        select(notifications)
        .where(
            notifications.c.state == DeliveryState.PENDING.value,
            notifications.c.next_attempt_at <= bindparam("now"),
        )
        .order_by(notifications.c.next_attempt_at, notifications.c.id)
        .limit(limit)
    )
    return statement.with_for_update(skip_locked=True) if skip_locked else statement


def _changes(outcome: Outcome) -> dict[str, Any]:
    """The columns an outcome writes."""
    if outcome.state is DeliveryState.SENT:
        return {"state": outcome.state.value, "sent_at": outcome.at}
    error = (outcome.error or "")[:2000]
    if outcome.state is DeliveryState.PENDING:
        return {"state": outcome.state.value, "next_attempt_at": outcome.at, "last_error": error}
    return {"state": outcome.state.value, "last_error": error}


def _record_from(row: RowMapping) -> NotificationRecord:
    return NotificationRecord(
        notification_id=row["id"],
        notification=_notification_from(row),
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        claimed_at=row["claimed_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        claimed_by=row["claimed_by"],
    )


def _claimed_from(row: RowMapping, *, now: datetime, token: str) -> NotificationRecord:
    """The record of `row` as claim_due's UPDATE left it, built in one go:
    on a backlog the dispatcher builds thousands a second, and a record read
    then copied with the claim's changes cost twice (docs/PERFORMANCE.md)."""
    return NotificationRecord(
        notification_id=row["id"],
        notification=_notification_from(row),
        state=DeliveryState.SENDING,
        attempts=row["attempts"] + 1,
        next_attempt_at=row["next_attempt_at"],
        claimed_at=now,
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        claimed_by=token,
    )


def _notification_from(row: RowMapping) -> Notification:
    return Notification(
        order_id=row["order_id"],
        status=row["status"],
        recipient=row["recipient"],
        subject=row["subject"],
        body=row["body"],
        trace_headers=row["trace_headers"] or {},
    )


def _rows(items: Sequence[tuple[str, Notification]], now: datetime) -> list[dict[str, Any]]:
    """The new records' rows, the first of each id."""
    rows: dict[str, dict[str, Any]] = {}
    for notification_id, n in items:
        rows.setdefault(
            notification_id,
            {
                "id": notification_id,
                "order_id": n.order_id,
                "status": n.status,
                "recipient": n.recipient,
                "subject": n.subject,
                "body": n.body,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "claimed_at": None,
                "sent_at": None,
                "last_error": None,
                "trace_headers": dict(n.trace_headers) or None,
                "claimed_by": None,
            },
        )
    return list(rows.values())


# Every finished order's notification goes through here, in the worker's
# transaction: compiled once, run through the driver (statements.DriverInsert),
# one statement for the batch (multi-row on MySQL) that skips stored ids.
_RECORD = DriverInsert(notifications, _COLUMNS, skip_duplicates=True)


class SqlNotificationRecorder(NotificationRecorder):
    """The ledger inside a SqlUnitOfWork's transaction (its connection)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @translated
    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> None:
        rows = _rows(items, now)
        if rows:
            _RECORD.execute(self._connection, rows)


class SqlNotificationLedger(NotificationLedger):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        rows = _rows(items, now)
        if not rows:
            return 0
        with self._transaction() as connection:
            statement = insert_ignoring_duplicates(connection, notifications)
            if connection.dialect.name == "postgresql":
                # psycopg reports no row count for a batch: count what comes back.
                returning = statement.returning(notifications.c.id)
                return len(connection.execute(returning, rows).all())
            return int(connection.execute(statement, rows).rowcount)

    def claim_due(self, *, now: datetime, limit: int, token: str) -> list[NotificationRecord]:
        if limit <= 0:
            return []
        with self._transaction() as connection:
            skip_locked = connection.dialect.name in _SKIP_LOCKED_DIALECTS
            rows = list(connection.execute(_due_statement(limit, skip_locked), {"now": now}))
            if not rows:
                return []
            connection.execute(
                _CLAIM, {"ids": [row.id for row in rows], "now": now, "token": token}
            )
            # The rows are locked (or, on SQLite, the database is) until the
            # commit: the claimed records are the rows read, as just updated.
            return [_claimed_from(row._mapping, now=now, token=token) for row in rows]

    def release_claim(self, token: str) -> list[str]:
        # state = 'sending' first: the (state, next_attempt_at) index finds the
        # few records under way, so claimed_by needs no index of its own (and
        # every claim no extra index write).
        held = (
            notifications.c.state == DeliveryState.SENDING.value,
            notifications.c.claimed_by == token,
        )
        with self._transaction() as connection:
            # Locked until the commit, so the ids returned are the ones released
            # (abandon_claims cannot turn one unknown in between).
            ids = sorted(
                connection.execute(select(notifications.c.id).where(*held).with_for_update())
                .scalars()
                .all()
            )
            if ids:
                connection.execute(
                    update(notifications)
                    .where(notifications.c.id.in_(ids), *held)
                    .values(
                        state=DeliveryState.PENDING.value,
                        attempts=notifications.c.attempts - 1,
                        claimed_at=None,
                        claimed_by=None,
                    )
                )
            return ids

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        # One UPDATE per kind of outcome (each sets its own columns), in one
        # transaction; only the claim's outcome settles a record, so an
        # abandoned one stays unknown and a repeated outcome changes nothing.
        by_kind: dict[DeliveryState, dict[str, dict[str, Any]]] = {}
        for outcome in outcomes:
            by_kind.setdefault(outcome.state, {})[outcome.notification_id] = _changes(outcome)
        if not by_kind:
            return
        with self._transaction() as connection:
            for state in sorted(by_kind):  # the same order in every transaction
                bulk_update(
                    connection,
                    notifications,
                    notifications.c.id,
                    dict(sorted(by_kind[state].items())),
                    only_where={"state": DeliveryState.SENDING.value},
                )

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

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with translate_errors(), self._engine.begin() as connection:
            yield connection
