"""Search checked against a naive reference on a realistic catalog (the
bench's generator): every page holds the same products in the same order as
a plain substring test sorted by (name, id), and the total is exact below
the count bound and a lower bound past the page at it (SPEC: search;
ports.repositories.SEARCH_COUNT_CAP)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from orderflow.adapters.sqlalchemy.search_index import index_rows, trigrams
from orderflow.adapters.sqlalchemy.tables import product_trigrams, products
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.domain.model import Product
from orderflow.ports.repositories import SEARCH_COUNT_CAP, ProductRepository
from tools.bench.data import catalog


def realistic_catalog(size: int) -> list[dict[str, Any]]:
    return list(catalog(size))


def load_in_bulk(engine: Engine, size: int) -> list[dict[str, Any]]:
    """A realistic catalog and its search index, written as the repository's
    upsert writes them but in two bulk statements (as the bench loads it)."""
    rows = realistic_catalog(size)
    grams = [
        entry
        for row in rows
        for entry in index_rows(row["id"], row["name"], trigrams(row["name"], row["description"]))
    ]
    with engine.begin() as connection:
        connection.execute(insert(products), rows)
        connection.execute(insert(product_trigrams), grams)
    return rows


def as_product(row: dict[str, Any]) -> Product:
    return Product(row["id"], row["name"], row["description"], Decimal(row["price"]), row["stock"])


def reference(rows: Iterable[dict[str, Any]], text: str) -> list[str]:
    """The specification of search, in plain Python: ids in (name, id) order."""
    folded = text.casefold()
    hits = [
        (row["name"], row["id"])
        for row in rows
        if folded in row["name"].casefold() or folded in row["description"].casefold()
    ]
    return [product_id for _name, product_id in sorted(hits)]


def check_pages(
    products: ProductRepository,
    rows: list[dict[str, Any]],
    texts: Iterable[str],
    pages: Iterable[tuple[int, int]],
) -> list[str]:
    """Every (limit, offset) page of every text against the reference; the
    differences found, one line each (empty: they all agree)."""
    wrong: list[str] = []
    pages = list(pages)
    for text in texts:
        expected = reference(rows, text)
        for limit, offset in pages:
            page = products.search(text=text, limit=limit, offset=offset)
            got = [product.id for product in page.items]
            want = expected[offset : offset + limit]
            # Counted up to one past the cap or the page's end, whichever is further.
            bound = max(SEARCH_COUNT_CAP, offset + limit) + 1
            want_total, want_exact = min(len(expected), bound), len(expected) < bound
            if got != want or (page.total, page.total_exact) != (want_total, want_exact):
                wrong.append(
                    f"{text!r} limit={limit} offset={offset}: items {got[:3]}... "
                    f"({len(got)}), total {page.total} exact={page.total_exact}; "
                    f"want {want[:3]}... ({len(want)}), total {want_total} exact={want_exact}"
                )
            if not page.total_exact:
                assert page.total > offset + limit, "a lower bound must promise another page"
    return wrong


# The ways the SQL adapters read a search (repositories.SqlProductRepository
# .search), and texts that take them on a catalog of PLAN_CATALOG products:
# - the products under the rarest trigram, in the index key's (name, id)
#   order: "Lamp", "OAK", "model 00042" (a rare trigram), "model" and
#   "Ships in" (every product holds theirs), "model 01" (exactly
#   SEARCH_COUNT_CAP matches) and "model 00" (one fewer);
# - the same joined with a trigram of another word: "Deluxe Lamp";
# - no trigram, the products in name-index order: "e", "" (everything);
# - each of them for a page that is short (no count), full (counted to the
#   bound) or past the end, at offsets below, at and past the cap.
PLAN_CATALOG = 4000
PLAN_TEXTS = (
    "model",
    "Ships in",
    "e",
    "",
    "model 01",
    "model 00",
    "Lamp",
    "Deluxe Lamp",
    "model 00042",
    "OAK",
    "zzqx-none",
)
PLAN_PAGES = (
    (20, 0),
    (20, 20),
    (100, 900),
    (20, 981),
    (20, 1000),
    (1, 1000),
    (100, 1950),
    (20, 3990),
    (20, 4000),
)


def check_every_plan(database_url: str) -> list[str]:
    """PLAN_TEXTS x PLAN_PAGES over PLAN_CATALOG products loaded into the
    (empty, migrated) database; the differences from the reference. A
    factory of its own: its trigram counts start empty, so the plans are
    chosen from this catalog's probes."""
    factory = SqlUnitOfWorkFactory.from_url(database_url)
    try:
        rows = load_in_bulk(factory.engine, PLAN_CATALOG)
        with factory() as uow:
            return check_pages(uow.products, rows, PLAN_TEXTS, PLAN_PAGES)
    finally:
        factory.close()
