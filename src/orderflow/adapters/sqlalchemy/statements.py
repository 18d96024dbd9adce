"""SQL building blocks shared by the repositories: case folding that behaves
alike on every backend, LIKE patterns that treat user text as a literal, and
an insert that reports a taken key as DuplicateKey without spoiling the
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Connection, String, Table, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from orderflow.adapters.sqlalchemy.errors import is_duplicate_key
from orderflow.domain.errors import DuplicateKey

SQLITE_FOLD_FUNCTION = "orderflow_casefold"  # registered on every connection by engine.py
LIKE_ESCAPE = "/"


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
    if connection.dialect.name == "postgresql":
        statement = (
            postgresql.insert(table)
            .values(row)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(key)  # no row back: the key was taken
        )
        if connection.execute(statement).first() is None:
            raise DuplicateKey(f"{what} already exists")
        return
    try:
        connection.execute(insert(table).values(row))
    except sa_exc.IntegrityError as error:
        if is_duplicate_key(error):
            raise DuplicateKey(f"{what} already exists") from error
        raise
