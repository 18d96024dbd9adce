"""The SQL adapters' trigram index of the catalog: it only narrows a search,
so every search answers exactly as a scan would, and it follows renames."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select, text

from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.migrate import upgrade
from orderflow.adapters.sqlalchemy.search_index import (
    index_rows,
    query_trigrams,
    query_words,
    trigrams,
)
from orderflow.adapters.sqlalchemy.tables import product_trigrams
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from orderflow.domain.model import Product
from tests.contracts.search_reference import check_every_plan


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
    url = f"sqlite:///{tmp_path / 'search.sqlite3'}"
    upgrade(url)
    instance = SqlUnitOfWorkFactory.from_url(url)
    yield instance
    instance.close()


def put(factory: SqlUnitOfWorkFactory, *items: Product) -> None:
    with factory() as uow:
        for product in items:
            uow.products.upsert(product)
        uow.commit()


def search(factory: SqlUnitOfWorkFactory, text: str) -> tuple[int, list[str]]:
    with factory() as uow:
        page = uow.products.search(text=text, limit=10, offset=0)
    return page.total, [p.id for p in page.items]


def connection_of(uow: object) -> Connection:
    """The unit of work's own connection, to look at the index directly."""
    assert isinstance(uow, SqlUnitOfWork)
    connection = uow._connection
    assert connection is not None
    return connection


def indexed(factory: SqlUnitOfWorkFactory, product_id: str) -> set[str]:
    with factory() as uow:
        rows = connection_of(uow).execute(
            select(product_trigrams.c.trigram).where(product_trigrams.c.product_id == product_id)
        )
        return {row[0] for row in rows}


def test_trigrams_are_case_folded_runs_of_letters_and_digits_within_words() -> None:
    assert trigrams("Oak-Desk 42") == {"oak", "des", "esk"}
    assert trigrams("ab", "x y") == set()
    assert query_trigrams("DESK") == {"des", "esk"}
    assert query_trigrams("café") == set()  # non-ASCII: the search scans


def test_a_rename_moves_the_product_in_the_index(factory: SqlUnitOfWorkFactory) -> None:
    put(factory, Product("d1", "Walnut Desk", "solid", Decimal("10.00"), 1))
    assert search(factory, "walnut") == (1, ["d1"])
    put(factory, Product("d1", "Oak Desk", "solid", Decimal("10.00"), 1))
    assert search(factory, "walnut") == (0, [])
    assert search(factory, "OAK d") == (1, ["d1"])
    assert indexed(factory, "d1") == trigrams("Oak Desk", "solid")


def test_searches_answer_as_a_scan_would(factory: SqlUnitOfWorkFactory) -> None:
    put(
        factory,
        Product("a", "Lamp", "brass, 40 cm", Decimal("1.00"), 1),
        Product("b", "Clamp", "steel", Decimal("1.00"), 1),
        Product("c", "Café table", "walnut", Decimal("1.00"), 1),
        Product("d", "Lampshade", "linen", Decimal("1.00"), 1),
    )
    assert search(factory, "lamp") == (3, ["b", "a", "d"])  # Clamp, Lamp, Lampshade
    assert search(factory, "amp c") == (0, [])  # across the name/description boundary
    assert search(factory, "s, 4") == (1, ["a"])  # no trigram inside a word: a scan
    assert search(factory, "CAFÉ") == (1, ["c"])  # non-ASCII: a scan
    assert search(factory, "la") == (3, ["b", "a", "d"])  # too short for a trigram
    assert search(factory, "zzq") == (0, [])  # a trigram no product holds


def test_every_plan_answers_as_the_plain_reference(tmp_path: Path) -> None:
    """The plans a search chooses from (tests/contracts/search_reference.py)
    over the bench's catalog, loaded in bulk as the bench loads it."""
    url = f"sqlite:///{tmp_path / 'plans.sqlite3'}"
    upgrade(url)
    wrong = check_every_plan(url)
    assert not wrong, "\n".join(wrong)


def test_words_keep_their_trigrams_apart() -> None:
    assert query_words("Deluxe LAMP, 4") == [
        {"del", "elu", "lux", "uxe"},
        {"lam", "amp"},
    ]
    assert query_words("café lamp") == []  # non-ASCII: the search scans


def test_index_rows_under_a_name_the_product_no_longer_has_are_ignored(
    factory: SqlUnitOfWorkFactory,
) -> None:
    # As two concurrent first inserts of one product may leave them: the
    # rows of the losing name stay, and must neither add nor misplace it.
    put(
        factory,
        Product("a", "Brass lamp", "solid", Decimal("1.00"), 1),
        Product("z", "Zinc lamp", "solid", Decimal("1.00"), 1),
    )
    with factory() as uow:
        connection_of(uow).execute(
            insert(product_trigrams), index_rows("z", "Aardvark lamp", trigrams("Zinc lamp"))
        )
        uow.commit()
    assert search(factory, "lamp") == (2, ["a", "z"])
    assert search(factory, "zinc") == (1, ["z"])


def test_revision_0005_puts_the_names_into_the_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0004")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:  # rows as the 0004 code wrote them
            connection.execute(
                text("INSERT INTO products VALUES ('d1', 'Walnut Desk', 'solid', 10, 1)")
            )
            connection.execute(
                text("INSERT INTO product_trigrams (trigram, product_id) VALUES (:g, 'd1')"),
                [{"g": gram} for gram in sorted(trigrams("Walnut Desk", "solid"))],
            )
    finally:
        engine.dispose()

    upgrade(url)

    migrated = SqlUnitOfWorkFactory.from_url(url)
    try:
        with migrated() as uow:
            rows = connection_of(uow).execute(select(product_trigrams.c.name).distinct())
            assert [row[0] for row in rows] == ["Walnut Desk"]
        assert search(migrated, "walnut") == (1, ["d1"])
    finally:
        migrated.close()
