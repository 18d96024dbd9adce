"""Creating and upgrading the SQL schema (`orderflow migrate`).

Alembic is configured here in code, so no alembic.ini has to be found at
run time. Several processes may start at once and all ask for an upgrade:
each backend's own lock lets one of them migrate while the others wait and
then find nothing left to do."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, make_url, text

from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.errors import translate_errors
from orderflow.adapters.sqlalchemy.tables import MYSQL_DIALECTS
from orderflow.domain.errors import StorageUnavailable
from orderflow.ports.schema import SchemaState

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

_LOCK_NAME = "orderflow.migrate"
_POSTGRES_LOCK_KEY = 0x6F72_6465_7266_6C6F  # "orderflo", an arbitrary app-wide key
_LOCK_WAIT_S = 120


def alembic_config() -> Config:
    """An Alembic Config pointing at the packaged migrations."""
    config = Config()
    # Config values go through configparser interpolation: escape any "%".
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (the latest by default).
    Running it again is a no-op."""
    engine = make_engine(url, statement_timeout_s=None)
    try:
        with translate_errors(), engine.connect() as connection, _exclusive(connection):
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None before the first upgrade."""
    engine = make_engine(url)
    try:
        with translate_errors(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def schema_state(url: str) -> SchemaState:
    """Where the database at `url` stands against this release's migrations,
    read without changing anything (a missing SQLite file is not created):
    "behind" before the first upgrade or at an older revision, "ahead" at a
    revision this release does not know (a newer release migrated it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database.startswith("file:") and not Path(database).exists():
            return "behind"
    current = current_revision(url)
    head = head_revision()
    if current == head:
        return "current"
    if current is None:
        return "behind"
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        known = None
    return "behind" if known is not None else "ahead"


def head_revision() -> str | None:
    """The newest revision shipped with this version of orderflow."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextlib.contextmanager
def _exclusive(connection: Connection) -> Iterator[None]:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Transaction-scoped: released by the commit that ends the upgrade.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK_KEY})
        yield
    elif dialect in MYSQL_DIALECTS:
        # Session-scoped, because MySQL commits implicitly after every DDL statement.
        acquired = connection.execute(
            text("SELECT GET_LOCK(:name, :wait)"), {"name": _LOCK_NAME, "wait": _LOCK_WAIT_S}
        ).scalar()
        if acquired != 1:
            raise StorageUnavailable(f"another migration held {_LOCK_NAME!r} for {_LOCK_WAIT_S}s")
        try:
            yield
        finally:
            # If the connection died the lock died with it; the error that
            # killed it is the one worth reporting.
            with contextlib.suppress(Exception):
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
    else:
        # SQLite: Alembic commits between revisions there (no transactional
        # DDL), so SQLite's own write lock would let a second process read
        # the version table between two revisions and apply one again. An
        # advisory lock on a file beside the database spans the whole upgrade.
        database = connection.engine.url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            yield
            return
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
