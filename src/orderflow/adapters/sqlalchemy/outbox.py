"""The transactional outbox on one SQLAlchemy Connection."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, bindparam, delete, func, select, update

from orderflow.adapters.sqlalchemy.errors import translated
from orderflow.adapters.sqlalchemy.statements import DriverInsert
from orderflow.adapters.sqlalchemy.tables import MYSQL_DIALECTS, outbox
from orderflow.ports.outbox import Outbox, OutboxMessage

# MariaDB >= 10.6, MySQL >= 8.0.1 and PostgreSQL support SKIP LOCKED. SQLite
# needs nothing: BEGIN IMMEDIATE lets one relay in at a time.
_SKIP_LOCKED_DIALECTS = (*MYSQL_DIALECTS, "postgresql")
# Every placed order's OrderPlaced goes through here: compiled once, run
# through the driver (statements.DriverInsert).
_INSERT = DriverInsert(
    outbox,
    [
        "message_id",
        "topic",
        "key",
        "type_name",
        "payload",
        "created_at",
        "published_at",
        "headers",
    ],
)


def _message_from(row: RowMapping) -> OutboxMessage:
    return OutboxMessage(
        message_id=row["message_id"],
        topic=row["topic"],
        key=row["key"],
        type_name=row["type_name"],
        payload=row["payload"],
        created_at=row["created_at"],
        seq=row["seq"],
        headers=row["headers"] or {},
    )


# The relay's hot statements (its claim and mark), built once: building one
# (and its cache key) on every batch cost more than SQLAlchemy's compiled
# cache saved.
_MARK_PUBLISHED = (
    update(outbox)
    .where(outbox.c.seq.in_(bindparam("seqs", expanding=True)))
    .values(published_at=bindparam("at"))
)


@functools.lru_cache(maxsize=16)
def _claim_statement(limit: int, skip_locked: bool) -> Select[Any]:
    statement = (
        select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq).limit(limit)
    )
    return statement.with_for_update(skip_locked=True) if skip_locked else statement


class SqlOutbox(Outbox):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @translated
    def add(self, messages: Sequence[OutboxMessage]) -> None:
        if not messages:
            return
        _INSERT.execute(
            self._connection,
            [
                {
                    "message_id": message.message_id,
                    "topic": message.topic,
                    "key": message.key,
                    "type_name": message.type_name,
                    "payload": message.payload,
                    "created_at": message.created_at,
                    "published_at": None,
                    "headers": dict(message.headers) or None,
                }
                for message in messages
            ],
        )

    @translated
    def claim_batch(self, *, limit: int) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        skip_locked = self._connection.dialect.name in _SKIP_LOCKED_DIALECTS
        rows = self._connection.execute(_claim_statement(limit, skip_locked)).mappings()
        return [_message_from(row) for row in rows]

    @translated
    def mark_published(self, *, seqs: Sequence[int], at: datetime) -> None:
        if not seqs:
            return
        self._connection.execute(_MARK_PUBLISHED, {"seqs": list(seqs), "at": at})

    @translated
    def pending_count(self) -> int:
        return int(
            self._connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
        )

    @translated
    def purge_published(self, *, older_than: datetime) -> int:
        result = self._connection.execute(
            delete(outbox).where(
                outbox.c.published_at.is_not(None), outbox.c.published_at < older_than
            )
        )
        return result.rowcount
