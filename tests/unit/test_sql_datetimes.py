"""UtcDateTime's bound values (adapters/sqlalchemy/tables.py): MySQL and
MariaDB get the very literal the driver made of a naive UTC datetime;
PostgreSQL an aware UTC datetime, SQLite a naive one; a naive datetime is
refused everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_item
from sqlalchemy import create_engine
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Dialect

from orderflow.adapters.sqlalchemy.tables import UtcDateTime

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
MYSQL_DIALECTS = {
    "mysql": mysql.pymysql.dialect(),
    "mariadb": mysql.pymysql.dialect(is_mariadb=True),
}
MYSQL = [pytest.param(dialect, id=name) for name, dialect in MYSQL_DIALECTS.items()]
POSTGRESQL = create_engine("postgresql+psycopg://db.invalid/orderflow").dialect


def bound(value: datetime, dialect: Dialect) -> object:
    return UtcDateTime().process_bind_param(value, dialect)


@pytest.mark.parametrize("dialect", MYSQL)
@given(value=st.datetimes(min_value=datetime(1000, 1, 1), timezones=ZONES))
def test_mysql_gets_the_literal_pymysql_made_of_the_naive_utc_datetime(
    dialect: Dialect, value: datetime
) -> None:
    naive_utc = value.astimezone(UTC).replace(tzinfo=None)
    assert escape_item(bound(value, dialect), "utf8mb4") == escape_item(naive_utc, "utf8mb4")


@pytest.mark.parametrize("microsecond", [0, 1, 866184])
def test_whole_seconds_and_fractions_alike(microsecond: int) -> None:
    value = datetime(2026, 12, 7, 2, 18, 44, microsecond, tzinfo=UTC)
    naive = value.replace(tzinfo=None)
    for dialect in MYSQL_DIALECTS.values():
        assert escape_item(bound(value, dialect), "utf8mb4") == escape_item(naive, "utf8mb4")


def test_postgresql_gets_aware_utc_and_sqlite_naive_utc() -> None:
    value = datetime(
        2026, 12, 7, 7, 48, 44, 866184, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    utc = datetime(2026, 12, 7, 2, 18, 44, 866184, tzinfo=UTC)
    assert bound(value, POSTGRESQL) == utc
    assert bound(value, sqlite.pysqlite.dialect()) == utc.replace(tzinfo=None)


@pytest.mark.parametrize(
    "dialect",
    [
        *MYSQL,
        pytest.param(POSTGRESQL, id="postgresql"),
        pytest.param(sqlite.pysqlite.dialect(), id="sqlite"),
    ],
)
def test_a_naive_datetime_is_refused(dialect: Dialect) -> None:
    with pytest.raises(ValueError, match="naive"):
        bound(datetime(2026, 12, 7), dialect)
