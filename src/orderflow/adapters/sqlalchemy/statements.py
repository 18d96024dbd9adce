"""SQL building blocks shared by the repositories: case folding that behaves
alike on every backend, LIKE patterns that treat user text as a literal, and
an insert that reports a taken key as DuplicateKey without spoiling the
transaction."""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Insert,
    String,
    Table,
    TextClause,
    bindparam,
    insert,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from orderflow.adapters.sqlalchemy.errors import is_duplicate_key
from orderflow.domain.errors import DuplicateKey

SQLITE_FOLD_FUNCTION = "orderflow_casefold"  # registered on every connection by engine.py
LIKE_ESCAPE = "/"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


class CaseFold(FunctionElement[str]):
    """Unicode-aware lower case: lower() on MySQL and PostgreSQL, a Python
    str.casefold on SQLite (whose lower() folds ASCII only)."""

    type = String()
    inherit_cache = True


@compiles(CaseFold)
def _casefold_default(element: CaseFold, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(CaseFold, "sqlite")
def _casefold_sqlite(element: CaseFold, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_FUNCTION}({compiler.process(element.clauses, **kw)})"


def contains_pattern(text: str) -> str:
    """A LIKE pattern (with LIKE_ESCAPE) matching `text` anywhere, literally."""
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def insert_new(
    connection: Connection,
    table: Table,
    row: Mapping[str, Any],
    *,
    key: Column[Any],
    what: str,
) -> None:
    """Insert `row`, or raise DuplicateKey if its `key` is already stored.

    A failed statement aborts the whole transaction on PostgreSQL, so there
    the conflict is detected with ON CONFLICT DO NOTHING instead of an error.
    MySQL and SQLite roll back only the failed statement."""
    # The row goes as parameters, not .values(row): the statement then has
    # one shape whatever the row, and SQLAlchemy compiles it once.
    if connection.dialect.name == "postgresql":
        statement = (
            postgresql.insert(table)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(key)  # no row back: the key was taken
        )
        if connection.execute(statement, dict(row)).first() is None:
            raise DuplicateKey(f"{what} already exists")
        return
    try:
        connection.execute(_insert_into(table), dict(row))
    except sa_exc.IntegrityError as error:
        if is_duplicate_key(error):
            raise DuplicateKey(f"{what} already exists") from error
        raise


@functools.lru_cache(maxsize=64)
def _insert_into(table: Table) -> Insert:
    # One per table: building the statement (and its cache key) on every
    # insert cost more than the compiled cache saved.
    return insert(table)


_Processor = Callable[[Any], Any] | None


class DriverInsert:
    """An INSERT of whole rows into one table, compiled once per dialect and
    handed to the driver as it is (Connection.exec_driver_sql), each value
    through its column's own bind processing (JSON, UtcDateTime...) here.

    What it skips is SQLAlchemy's work around every execution (the cache
    key, the compiled-cache lookup, an execution context that processes each
    parameter): a third of the CPU of intake's two inserts. Driver errors
    still come as SQLAlchemy's (so they are translated as any other), and a
    lost connection is still invalidated. Several rows go as one executemany
    (on MySQL, one multi-row INSERT, as before). With `skip_duplicates`, a
    row whose key is taken is skipped (insert_ignoring_duplicates)."""

    def __init__(
        self, table: Table, columns: Sequence[str], *, skip_duplicates: bool = False
    ) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._skip_duplicates = skip_duplicates
        # Per dialect instance: its bind processors capture its settings
        # (the engine's JSON serializer).
        self._prepared: weakref.WeakKeyDictionary[
            Dialect, tuple[str, tuple[tuple[str, _Processor], ...]]
        ] = weakref.WeakKeyDictionary()

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        dialect = connection.dialect
        prepared = self._prepared.get(dialect)
        if prepared is None:
            prepared = self._prepared[dialect] = self._prepare(dialect)
        sql, columns = prepared
        params: list[Any]
        if dialect.positional:
            params = [
                tuple(
                    row[name] if process is None else process(row[name])
                    for name, process in columns
                )
                for row in rows
            ]
        else:
            params = [
                {
                    name: row[name] if process is None else process(row[name])
                    for name, process in columns
                }
                for row in rows
            ]
        connection.exec_driver_sql(sql, params)

    def _prepare(self, dialect: Dialect) -> tuple[str, tuple[tuple[str, _Processor], ...]]:
        base = (
            _ignoring_insert(dialect.name, self._table)
            if self._skip_duplicates
            else insert(self._table)
        )
        statement = base.values({name: bindparam(name) for name in self._columns})
        compiled = statement.compile(dialect=dialect)
        names = compiled.positiontup if dialect.positional else self._columns
        if (
            names is None
            or sorted(names) != sorted(self._columns)
            or getattr(compiled, "escaped_bind_names", None)
        ):  # the parameters below are named (or ordered) as the columns
            raise ValueError(f"cannot prepare an insert of {self._columns} for {dialect.name}")
        columns = tuple(
            (name, self._table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        )
        return compiled.string, columns


def bulk_update(
    connection: Connection,
    table: Table,
    key: Column[Any],
    changes: Mapping[Any, Mapping[str, Any]],
    *,
    only_where: Mapping[str, Any] | None = None,
) -> int:
    """Set different values on many rows in one statement (UPDATE ... SET
    col = CASE key WHEN ... END WHERE key IN (...)); every row names the same
    columns. `only_where` (column: value) leaves the rows whose columns hold
    other values as they are. Returns how many rows matched.

    The statement is built once per column set and size bucket (a power of
    two; the last row repeats to fill it, which changes nothing), because
    building and compiling it for every batch cost more than running it."""
    if not changes:
        return 0
    rows = list(changes.items())
    columns = tuple(rows[0][1])
    size = 1 << (len(rows) - 1).bit_length()
    rows += [rows[-1]] * (size - len(rows))
    params: dict[str, Any] = {}
    for index, (row_key, row) in enumerate(rows):
        params[f"k{index}"] = row_key
        for number, name in enumerate(columns):
            params[f"v{number}_{index}"] = row[name]
    conditions = tuple(only_where or ())
    for number, name in enumerate(conditions):
        params[f"w{number}"] = (only_where or {})[name]
    statement = _bulk_update_statement(table, key.name, columns, size, conditions)
    return int(connection.execute(statement, params).rowcount)


@functools.lru_cache(maxsize=256)
def _bulk_update_statement(
    table: Table, key: str, columns: tuple[str, ...], size: int, conditions: tuple[str, ...]
) -> TextClause:
    for name in (table.name, key, *columns, *conditions):
        if not _IDENTIFIER.fullmatch(name):  # spelled into SQL: plain names only
            raise ValueError(f"not a plain SQL identifier: {name!r}")
    keys = ", ".join(f":k{i}" for i in range(size))
    sets = ", ".join(
        f"{name} = CASE {key} "
        + " ".join(f"WHEN :k{i} THEN :v{number}_{i}" for i in range(size))
        + f" ELSE {name} END"
        for number, name in enumerate(columns)
    )
    # Each value bound with its column's type, so that type decorators
    # (UtcDateTime) process it as they would in a plain UPDATE.
    where = "".join(f" AND {name} = :w{number}" for number, name in enumerate(conditions))
    binds = [bindparam(f"k{i}", type_=table.c[key].type) for i in range(size)] + [
        bindparam(f"v{number}_{i}", type_=table.c[name].type)
        for number, name in enumerate(columns)
        for i in range(size)
    ]
    binds += [
        bindparam(f"w{number}", type_=table.c[name].type) for number, name in enumerate(conditions)
    ]
    return text(f"UPDATE {table.name} SET {sets} WHERE {key} IN ({keys}){where}").bindparams(*binds)


def insert_ignoring_duplicates(connection: Connection, table: Table) -> Any:
    """An INSERT (for executemany) that skips rows whose key is taken."""
    return _ignoring_insert(connection.dialect.name, table)


def _ignoring_insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("IGNORE")
