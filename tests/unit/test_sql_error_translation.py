"""Driver errors leaving a `translate_errors()` block
(adapters/sqlalchemy/errors.py): duplicates and outages translated, with
the driver's error as the cause; anything else propagates as it was."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from orderflow.adapters.sqlalchemy.errors import translate_errors, translated
from orderflow.domain.errors import DuplicateKey, StorageUnavailable


class DriverError(Exception):
    pass


def integrity(errno: int) -> sa_exc.IntegrityError:
    return sa_exc.IntegrityError("INSERT ...", {}, DriverError(errno, "refused"))


def test_a_duplicate_key_is_translated_with_the_driver_error_as_cause() -> None:
    error = integrity(1062)
    with pytest.raises(DuplicateKey) as raised, translate_errors():
        raise error
    assert raised.value.__cause__ is error


def test_another_integrity_error_propagates_as_it_was() -> None:
    error = integrity(3819)  # a CHECK constraint
    with pytest.raises(sa_exc.IntegrityError) as raised, translate_errors():
        raise error
    assert raised.value is error


@pytest.mark.parametrize(
    "error",
    [
        sa_exc.OperationalError("SELECT 1", {}, DriverError(2013, "lost")),
        sa_exc.InterfaceError("SELECT 1", {}, DriverError(0, "closed")),
        sa_exc.DBAPIError("SELECT 1", {}, DriverError(0, "gone"), connection_invalidated=True),
        sa_exc.TimeoutError("pool exhausted"),
        sa_exc.DisconnectionError("gone"),
        sa_exc.PendingRollbackError("died earlier"),
    ],
)
def test_outages_are_storage_unavailable(error: Exception) -> None:
    with pytest.raises(StorageUnavailable) as raised, translate_errors():
        raise error
    assert raised.value.__cause__ is error


def test_other_errors_propagate_as_they_were() -> None:
    programming = sa_exc.ProgrammingError("SELEC 1", {}, DriverError(1064, "syntax"))
    for error in (programming, ValueError("a bug")):
        with pytest.raises(type(error)) as raised, translate_errors():
            raise error
        assert raised.value is error


def test_blocks_nest_and_methods_are_wrapped() -> None:
    @translated
    def insert() -> None:
        raise integrity(1062)

    with translate_errors(), translate_errors():
        pass
    with pytest.raises(DuplicateKey), translate_errors():
        insert()
    with translate_errors():
        assert translated(lambda: 7)() == 7
