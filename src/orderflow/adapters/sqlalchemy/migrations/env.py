"""Alembic's entry point, run by alembic.command for every migration command.

orderflow.adapters.sqlalchemy.migrate hands over an open connection in
`config.attributes["connection"]`; plain `alembic -x url=...` use (for
example autogenerate during development) builds an engine from the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.tables import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or use orderflow migrate")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), statement_timeout_s=None)
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
            new_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
