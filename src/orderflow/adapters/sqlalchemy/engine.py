"""Engines tuned for each supported backend.

MySQL/MariaDB and PostgreSQL get a bounded pool with pre-ping (a connection
killed by a server restart is replaced, not handed out), short connect and
lock timeouts (a database outage becomes StorageUnavailable in seconds, and
the consumer pauses, instead of threads hanging), and READ COMMITTED on MySQL
so that SELECT ... FOR UPDATE takes no gap locks (PostgreSQL's default).

SQLite has no SELECT ... FOR UPDATE, so a transaction that may write starts
with BEGIN IMMEDIATE: it takes the database's write lock up front and
writers run one at a time (the busy timeout makes the others wait rather
than fail). A transaction on an engine from `read_only(engine)` starts with
a plain (deferred) BEGIN instead: in WAL mode it reads a snapshot, takes no
write lock, and neither waits for writers nor delays them, so a slow search
never holds up intake."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from orderflow.adapters import fast_json
from orderflow.adapters.sqlalchemy.statements import SQLITE_FOLD_FUNCTION

CONNECT_TIMEOUT_S = 5
LOCK_TIMEOUT_S = 10
STATEMENT_TIMEOUT_S = 60
SQLITE_BUSY_TIMEOUT_S = 30

_POOL_OPTIONS: dict[str, Any] = {
    "pool_size": 10,
    "max_overflow": 20,
    "pool_timeout": 10,  # waiting for a free pooled connection
    "pool_recycle": 1800,  # under MySQL's wait_timeout and most proxies' idle limits
    "pool_pre_ping": True,
}
# JSON columns (an order's lines and history, the outbox payload with the
# order's snapshot) encoded with orjson: the standard library's encoder was
# about a tenth of an intake request. Read back with json.loads as before.
# Errors never carry a statement's parameters (customer names and emails)
# into a log line or a traceback (docs/SECURITY.md, Privacy).
_ENGINE_OPTIONS: dict[str, Any] = {"json_serializer": fast_json.dumps, "hide_parameters": True}


def make_engine(url: str | URL, *, statement_timeout_s: int | None = STATEMENT_TIMEOUT_S) -> Engine:
    """An Engine for a sqlite, mysql(+pymysql)/mariadb or postgresql(+psycopg) URL.

    `statement_timeout_s` bounds one statement (PostgreSQL) or one round trip
    (MySQL); migrations pass None so that a long index build is not cut short."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend in ("mysql", "mariadb"):
        return _mysql_engine(parsed, statement_timeout_s)
    if backend == "postgresql":
        return _postgres_engine(parsed, statement_timeout_s)
    raise ValueError(f"unsupported database backend {backend!r}")


def _mysql_engine(url: URL, statement_timeout_s: int | None) -> Engine:
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "init_command": (
            f"SET SESSION innodb_lock_wait_timeout = {LOCK_TIMEOUT_S}, SESSION time_zone = '+00:00'"
        ),
    }
    if statement_timeout_s is not None:
        connect_args["read_timeout"] = statement_timeout_s
        connect_args["write_timeout"] = statement_timeout_s
    return _reset_only_if_needed(
        create_engine(
            url,
            isolation_level="READ COMMITTED",
            connect_args=connect_args,
            pool_reset_on_return=None,
            **_POOL_OPTIONS,
            **_ENGINE_OPTIONS,
        )
    )


def _postgres_engine(url: URL, statement_timeout_s: int | None) -> Engine:
    options = f"-c lock_timeout={LOCK_TIMEOUT_S * 1000} -c TimeZone=UTC"
    if statement_timeout_s is not None:
        options += f" -c statement_timeout={statement_timeout_s * 1000}"
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": options,
        # A server that vanished without closing the socket is noticed in
        # about a minute instead of the kernel's two hours.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    return _reset_only_if_needed(
        create_engine(
            url,
            connect_args=connect_args,
            pool_reset_on_return=None,
            **_POOL_OPTIONS,
            **_ENGINE_OPTIONS,
        )
    )


CLEAN = "orderflow_clean"  # set in Connection.info by whoever ended the transaction


def _reset_only_if_needed(engine: Engine) -> Engine:
    """The pool rolls a connection back when it comes back, a round trip per
    unit of work; a unit of work ends its transaction itself (commit, or the
    rollback on leaving its block) and says so in Connection.info, and then
    the pool skips it. Any other user of a pooled connection (a raw
    connection, an error path) still gets the rollback."""

    def reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        if record.info.pop(CLEAN, False) and not state.terminate_only:
            return
        dbapi_connection.rollback()

    event.listen(engine, "reset", reset)
    return engine


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if not database or database == ":memory:" or "mode=memory" in str(url):
        # Each pooled connection would get its own empty database, so the
        # migrated schema would vanish with the migration's connection.
        raise ValueError(
            "an in-memory SQLite database cannot be shared between connections: "
            "use a sqlite:///path file, or memory:// for the in-process store"
        )
    if not database.startswith("file:"):
        # The embedded default lives under the user's data directory, which
        # may not exist on a first start. If it cannot be made, connecting
        # fails, and that is reported as StorageUnavailable.
        with contextlib.suppress(OSError):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **_ENGINE_OPTIONS,
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin)
    return engine


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Hand transaction control to SQLAlchemy's "begin" hook below; the
    # driver's own implicit BEGIN (DEFERRED, and only before DML) is off.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL, not WAL's usual NORMAL: a 201 promises the order survives a
        # power cut, so every commit is synced.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    dbapi_connection.create_function(SQLITE_FOLD_FUNCTION, 1, _casefold, deterministic=True)


def _casefold(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    # SQLite's own lower() folds ASCII only; this gives the same Unicode
    # case folding as the in-memory adapter.
    return value.casefold() if isinstance(value, str) else value


READ_ONLY = "orderflow_read_only"  # an execution option: the connection only reads


def read_only(engine: Engine) -> Engine:
    """`engine` (same pool) for transactions that only read; on SQLite they
    take no write lock."""
    return engine.execution_options(**{READ_ONLY: True})


def _begin(connection: Connection) -> None:
    reads_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")
