"""Creating or upgrading the configured database's schema (`orderflow migrate`)."""

from __future__ import annotations

from orderflow.config import Settings


def migrate(settings: Settings) -> str:
    """Bring the schema of the configured database to the latest version;
    returns a one-line description of what was done."""
    kind = settings.database_kind
    if kind == "sql":
        from orderflow.adapters.sqlalchemy.migrate import upgrade

        upgrade(settings.database_url)
        return "SQL schema upgraded to the latest revision"
    if kind == "mongo":
        from orderflow.adapters.mongo.migrate import ensure_indexes

        ensure_indexes(settings.database_url)
        return "MongoDB collections and indexes ensured"
    return "in-memory database: nothing to migrate"
