"""pymongo errors translated into orderflow's error hierarchy.

As in the SQL adapter, two kinds are translated: a unique-key violation
(DuplicateKey, which services use to serialise concurrent inserts) and
everything that means "the database is not answering right now"
(StorageUnavailable: no server selectable, lost or refused connections,
timeouts, a primary stepping down). Anything else is a bug and propagates as
pymongo raised it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    WTimeoutError,
)

from orderflow.domain.errors import DuplicateKey, StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})

# Server error codes that mean "not now" rather than "never": elections,
# shutdowns, network trouble between members, lock and time limits.
_TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        24,  # LockTimeout
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        112,  # WriteConflict
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


def is_duplicate_key(error: BaseException) -> bool:
    """True for a unique-index violation, also inside a bulk write whose every
    failure is one."""
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        details: Mapping[str, Any] = error.details or {}
        failures = details.get("writeErrors") or []
        return (
            bool(failures)
            and not details.get("writeConcernErrors")
            and all(failure.get("code") in DUPLICATE_KEY_CODES for failure in failures)
        )
    return False


def is_transient(error: OperationFailure) -> bool:
    return error.code in _TRANSIENT_CODES or any(
        error.has_error_label(label) for label in _TRANSIENT_LABELS
    )


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except (DuplicateKeyError, BulkWriteError) as error:
        if is_duplicate_key(error):
            raise DuplicateKey(f"duplicate key: {_describe(error)}") from error
        if isinstance(error, BulkWriteError) and is_transient(error):
            raise StorageUnavailable(f"database unavailable: {_describe(error)}") from error
        raise
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as error:
        # ConnectionFailure covers ServerSelectionTimeoutError, AutoReconnect,
        # NetworkTimeout and WaitQueueTimeoutError.
        raise StorageUnavailable(f"database unavailable: {_describe(error)}") from error
    except OperationFailure as error:
        if is_transient(error):
            raise StorageUnavailable(f"database unavailable: {_describe(error)}") from error
        raise


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Run `method` inside translate_errors()."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors():
            return method(*args, **kwargs)

    return wrapper


def _describe(error: Exception) -> str:
    # The message only: pymongo's `details` can echo whole documents, which
    # hold customer data, into every log line.
    message = str(error).split(", full error:", 1)[0]
    return f"{type(error).__name__}: {message}".strip()
