"""The two statements of a product search (its page and its capped count),
built once per kind of database and number of trigrams joined: building and
keying a statement cost about a fifth of a search's Python time, and only
the values change from one search to the next (bind parameters below)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, String, and_, bindparam, func, or_, select
from sqlalchemy.sql.expression import literal

from orderflow.adapters.sqlalchemy.statements import LIKE_ESCAPE, CaseFold
from orderflow.adapters.sqlalchemy.tables import MYSQL_DIALECTS, product_trigrams, products

# Bind parameters: the LIKE pattern, the trigrams joined, the page, the bound.
PATTERN, FIRST, SECOND = "pattern", "first_trigram", "second_trigram"
LIMIT, OFFSET, BOUND = "page_limit", "page_offset", "count_bound"


@dataclass(frozen=True, slots=True)
class SearchStatements:
    page: Select[Any]  # the products of the page, in search order
    count: Select[Any]  # how many match, counted up to BOUND


@functools.cache
def search_statements(dialect: str, trigrams: int) -> SearchStatements:
    """For `trigrams` 0 the products in name-index order; for 1 those under
    the FIRST trigram in the index key's order (name, product_id), which is
    the search's; for 2 those that also hold the SECOND (a trigram of
    another word: an index lookup instead of reading a product that cannot
    match). Every form filters with the same LIKE."""
    pattern = CaseFold(bindparam(PATTERN, type_=String()))
    matches: ColumnElement[bool] = or_(
        CaseFold(products.c.name).like(pattern, escape=LIKE_ESCAPE),
        CaseFold(products.c.description).like(pattern, escape=LIKE_ESCAPE),
    )
    source: FromClause = products
    order: list[ColumnElement[Any]] = [
        _in_code_point_order(dialect, products.c.name),
        products.c.id,
    ]
    if trigrams:
        key = product_trigrams
        source = key
        conditions = [key.c.trigram == bindparam(FIRST, type_=String())]
        if trigrams > 1:
            also = product_trigrams.alias("also")
            source = source.join(
                also, and_(also.c.name == key.c.name, also.c.product_id == key.c.product_id)
            )
            conditions.append(also.c.trigram == bindparam(SECOND, type_=String()))
        # Matching the name too ignores rows under a name the product no
        # longer has (search_index.py).
        source = source.join(
            products, and_(products.c.id == key.c.product_id, products.c.name == key.c.name)
        )
        matches = and_(*conditions, matches)
        order = [_in_code_point_order(dialect, key.c.name), key.c.product_id]
    page = (
        _in_join_order(select(products))
        .select_from(source)
        .where(matches)
        .order_by(*order)
        .limit(bindparam(LIMIT))
        .offset(bindparam(OFFSET))
    )
    counted = (
        _in_join_order(select(literal(1)))
        .select_from(source)
        .where(matches)
        .limit(bindparam(BOUND))
        .subquery()
    )
    return SearchStatements(page=page, count=select(func.count()).select_from(counted))


def _in_join_order(statement: Select[Any]) -> Select[Any]:
    """Join the tables in the order the statement names them: MariaDB would
    otherwise read each product before the index lookup meant to spare it."""
    for dialect in MYSQL_DIALECTS:
        statement = statement.prefix_with("STRAIGHT_JOIN", dialect=dialect)
    return statement


def _in_code_point_order(dialect: str, name: ColumnElement[str]) -> ColumnElement[str]:
    # MySQL's utf8mb4_bin columns and SQLite already sort by code point,
    # like the in-memory adapter; PostgreSQL's database collation may not.
    return name.collate("C") if dialect == "postgresql" else name
