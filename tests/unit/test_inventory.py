from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.domain.errors import InsufficientStock, ProductNotFound
from orderflow.domain.inventory import reserve
from orderflow.domain.model import Product

stocks = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]), st.integers(min_value=0, max_value=20), min_size=1
)
wants = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "unknown"]),
    st.integers(min_value=1, max_value=25),
    min_size=1,
)


def catalog(stock: dict[str, int]) -> dict[str, Product]:
    return {pid: Product(pid, pid, "", Decimal("1"), units) for pid, units in stock.items()}


@given(stocks, wants)
def test_reservation_takes_all_items_or_none(stock: dict[str, int], want: dict[str, int]) -> None:
    products = catalog(stock)
    possible = all(pid in stock and qty <= stock[pid] for pid, qty in want.items())
    if possible:
        reserve(products, want)
        for pid, units in stock.items():
            assert products[pid].stock == units - want.get(pid, 0)
    else:
        with pytest.raises((InsufficientStock, ProductNotFound)):
            reserve(products, want)
        assert {pid: p.stock for pid, p in products.items()} == stock


@given(stocks, st.lists(wants, max_size=10))
def test_stock_never_goes_negative(stock: dict[str, int], orders: list[dict[str, int]]) -> None:
    products = catalog(stock)
    for want in orders:
        with contextlib.suppress(InsufficientStock, ProductNotFound):
            reserve(products, want)
        assert all(p.stock >= 0 for p in products.values())


def test_insufficient_stock_names_the_product_and_the_numbers() -> None:
    with pytest.raises(InsufficientStock, match="lamp: requested 4, available 3"):
        reserve(catalog({"lamp": 3}), {"lamp": 4})
