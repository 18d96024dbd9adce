"""API keys on SQL: each method one short transaction on the engine the
units of work share (the `api_keys` table, Alembic revision 0006)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, RowMapping, or_, select, update

from orderflow.adapters.sqlalchemy.engine import read_only
from orderflow.adapters.sqlalchemy.errors import translated
from orderflow.adapters.sqlalchemy.tables import api_keys
from orderflow.domain.identity import ApiKey, Role
from orderflow.ports.api_keys import ApiKeyStore


def _key_from(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        secret_digest=row["secret_digest"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class SqlApiKeyStore(ApiKeyStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Every request with a key looks it up: on SQLite without the write lock.
        self._reader = read_only(engine)

    @translated
    def add(self, key: ApiKey) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                api_keys.insert(),
                {
                    "id": key.id,
                    "name": key.name,
                    "role": key.role.value,
                    "secret_digest": key.secret_digest,
                    "created_at": key.created_at,
                    "revoked_at": key.revoked_at,
                },
            )

    @translated
    def find_by_digest(self, secret_digest: str) -> ApiKey | None:
        with self._reader.connect() as connection:
            row = (
                connection.execute(
                    select(api_keys).where(api_keys.c.secret_digest == secret_digest)
                )
                .mappings()
                .first()
            )
        return _key_from(row) if row is not None else None

    @translated
    def list_keys(self) -> list[ApiKey]:
        with self._reader.connect() as connection:
            rows = connection.execute(
                select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
            ).mappings()
            return [_key_from(row) for row in rows]

    @translated
    def revoke(self, name_or_id: str, *, at: datetime) -> ApiKey | None:
        named = or_(api_keys.c.name == name_or_id, api_keys.c.id == name_or_id)
        with self._engine.begin() as connection:
            connection.execute(
                update(api_keys).where(named, api_keys.c.revoked_at.is_(None)).values(revoked_at=at)
            )
            # A name wins over an id that happens to equal it.
            rows = list(connection.execute(select(api_keys).where(named)).mappings())
        rows.sort(key=lambda row: row["name"] != name_or_id)
        return _key_from(rows[0]) if rows else None
