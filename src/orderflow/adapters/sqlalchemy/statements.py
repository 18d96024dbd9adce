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
    String,
    Table,
    TextClause,
    bindparam,
    insert,
    select,
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
        _row_insert(table, tuple(row)).execute(connection, (row,))
    except sa_exc.IntegrityError as error:
        if is_duplicate_key(error):
            raise DuplicateKey(f"{what} already exists") from error
        raise


@functools.lru_cache(maxsize=64)
def _row_insert(table: Table, columns: tuple[str, ...]) -> DriverInsert:
    # One per table and column set, compiled once and run through the
    # driver as multi-row batches are: SQLAlchemy's per-execution work
    # around a single row cost more than the driver's own.
    return DriverInsert(table, columns)


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


class DriverSelectIn:
    """SELECT some columns of the rows whose `key` is one of the given keys,
    compiled once per dialect and number of keys and handed to the driver as
    it is (Connection.exec_driver_sql), like DriverInsert: each key through
    its column's bind processing, each value read back through its column's
    result processing (Numeric's Decimal on SQLite, for one).

    The number of keys is rounded up to a power of two (the last key
    repeated, which matches nothing more), so a few statements serve every
    batch. What it skips is SQLAlchemy's work around every execution of an
    expanding IN: rendering the list again, the compiled-cache lookup and an
    execution context that processes each parameter and row."""

    def __init__(self, table: Table, key: str, columns: Sequence[str]) -> None:
        self._table = table
        self._key = key
        self._columns = tuple(columns)
        self._prepared: weakref.WeakKeyDictionary[
            Dialect, dict[int, tuple[str, tuple[str, ...] | None]]
        ] = weakref.WeakKeyDictionary()
        # Per dialect and the driver's type code of each column (PostgreSQL's
        # numeric processing depends on it).
        self._processors: weakref.WeakKeyDictionary[
            Dialect, dict[tuple[Any, ...], tuple[_Processor, ...]]
        ] = weakref.WeakKeyDictionary()

    def rows(self, connection: Connection, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The selected columns of every stored row among `keys`, in no order."""
        if not keys:
            return []
        dialect = connection.dialect
        size = 1 << (len(keys) - 1).bit_length()
        sql, names = self._statement(dialect, size)
        process_key = self._table.c[self._key].type.dialect_impl(dialect).bind_processor(dialect)
        values = [*keys, *[keys[-1]] * (size - len(keys))]
        if process_key is not None:
            values = [process_key(value) for value in values]
        params: Any = (
            tuple(values[int(name[1:])] for name in names or ())
            if dialect.positional
            else {f"k{index}": value for index, value in enumerate(values)}
        )
        result = connection.exec_driver_sql(sql, params)
        processors = self._row_processors(dialect, result.cursor.description)
        if not any(processors):
            return [tuple(row) for row in result]
        return [
            tuple(
                value if process is None else process(value)
                for value, process in zip(row, processors, strict=True)
            )
            for row in result
        ]

    def _statement(self, dialect: Dialect, size: int) -> tuple[str, tuple[str, ...] | None]:
        by_size = self._prepared.get(dialect)
        if by_size is None:
            by_size = self._prepared[dialect] = {}
        prepared = by_size.get(size)
        if prepared is None:
            statement = select(*(self._table.c[name] for name in self._columns)).where(
                self._table.c[self._key].in_([bindparam(f"k{index}") for index in range(size)])
            )
            compiled = statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup) if compiled.positiontup is not None else None
            expected = {f"k{index}" for index in range(size)}
            if (set(names) if dialect.positional and names else set(compiled.binds)) != expected:
                raise ValueError(f"cannot prepare a read of {self._table.name} for {dialect.name}")
            prepared = by_size[size] = (compiled.string, names)
        return prepared

    def _row_processors(self, dialect: Dialect, description: Any) -> tuple[_Processor, ...]:
        codes = tuple(column[1] for column in description)
        known = self._processors.get(dialect)
        if known is None:
            known = self._processors[dialect] = {}
        processors = known.get(codes)
        if processors is None:
            processors = known[codes] = tuple(
                self._table.c[name].type.dialect_impl(dialect).result_processor(dialect, code)
                for name, code in zip(self._columns, codes, strict=True)
            )
        return processors


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
