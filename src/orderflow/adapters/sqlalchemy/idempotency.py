"""Idempotency-Key records on one SQLAlchemy Connection."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from orderflow.adapters.sqlalchemy.errors import translated
from orderflow.adapters.sqlalchemy.statements import insert_new
from orderflow.adapters.sqlalchemy.tables import idempotency_keys
from orderflow.ports.idempotency import IdempotencyRecord, IdempotencyStore


class SqlIdempotencyStore(IdempotencyStore):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @translated
    def get(self, key: str) -> IdempotencyRecord | None:
        row = (
            self._connection.execute(select(idempotency_keys).where(idempotency_keys.c.key == key))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return IdempotencyRecord(
            key=row["key"],
            fingerprint=row["fingerprint"],
            order_id=row["order_id"],
            response=row["response"],
            created_at=row["created_at"],
        )

    @translated
    def add(self, record: IdempotencyRecord) -> None:
        insert_new(
            self._connection,
            idempotency_keys,
            {
                "key": record.key,
                "fingerprint": record.fingerprint,
                "order_id": record.order_id,
                "response": record.response,
                "created_at": record.created_at,
            },
            key=idempotency_keys.c.key,
            what=f"idempotency key {record.key!r}",
        )

    @translated
    def purge(self, *, older_than: datetime) -> int:
        result = self._connection.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than)
        )
        return result.rowcount
