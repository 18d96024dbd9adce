"""Driver errors translated into orderflow's error hierarchy.

Only two kinds are translated: a unique-key violation (DuplicateKey, which
services use to serialise concurrent inserts) and everything that means "the
database is not answering right now" (StorageUnavailable: refused or lost
connections, timeouts, lock waits, deadlocks, an exhausted pool). Anything
else is a bug and propagates as the driver raised it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc

from orderflow.domain.errors import DuplicateKey, StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

_POSTGRES_UNIQUE_VIOLATION = "23505"
_MYSQL_DUPLICATE_ENTRY = frozenset({1062, 1586})  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
_SQLITE_CONSTRAINT_PRIMARYKEY = 1555
_SQLITE_CONSTRAINT_UNIQUE = 2067


def is_duplicate_key(error: sa_exc.IntegrityError) -> bool:
    """True when a primary or unique key rejected the write (not, say, a CHECK)."""
    orig = error.orig
    args: tuple[object, ...] = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (errno, message)
        return args[0] in _MYSQL_DUPLICATE_ENTRY
    sqlite_code = getattr(orig, "sqlite_errorcode", None)  # sqlite3
    if sqlite_code is not None:
        return sqlite_code in (_SQLITE_CONSTRAINT_PRIMARYKEY, _SQLITE_CONSTRAINT_UNIQUE)
    # psycopg; MySQL's SQLSTATE (23000) would not tell a duplicate from a CHECK.
    return bool(getattr(orig, "sqlstate", None) == _POSTGRES_UNIQUE_VIOLATION)


def _describe(error: Exception) -> str:
    # The driver's own message, without SQLAlchemy's echo of the statement
    # and its parameters (which may hold customer data) in every log line.
    orig = getattr(error, "orig", None)
    cause = orig if isinstance(orig, BaseException) else error
    return f"{type(cause).__name__}: {cause}".strip()


class ErrorTranslation:
    """A block whose driver errors leave it translated. A class rather than
    a generator (contextlib.contextmanager): it wraps every statement, and
    a generator-based manager is built and stepped through on each entry.
    Stateless, so one instance serves every block, nested or in any thread."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if error is None:
            return
        if isinstance(error, sa_exc.IntegrityError):
            if is_duplicate_key(error):
                raise DuplicateKey(f"duplicate key: {_describe(error)}") from error
            return
        if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            raise StorageUnavailable(f"database unavailable: {_describe(error)}") from error
        if isinstance(error, sa_exc.DBAPIError):
            if error.connection_invalidated:
                raise StorageUnavailable(f"database connection lost: {_describe(error)}") from error
            return
        if isinstance(
            error,
            (
                sa_exc.TimeoutError,  # no pooled connection became free in time
                sa_exc.DisconnectionError,
                sa_exc.PendingRollbackError,  # the connection died earlier in this transaction
            ),
        ):
            raise StorageUnavailable(f"database unavailable: {_describe(error)}") from error


_TRANSLATION = ErrorTranslation()


def translate_errors() -> ErrorTranslation:
    """`with translate_errors():` runs its block with driver errors translated."""
    return _TRANSLATION


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Run `method` inside translate_errors()."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _TRANSLATION:
            return method(*args, **kwargs)

    return wrapper
