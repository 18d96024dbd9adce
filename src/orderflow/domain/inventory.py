"""Inventory reservation: an order takes all its items or none."""

from __future__ import annotations

from collections.abc import Mapping

from orderflow.domain.errors import InsufficientStock, ProductNotFound
from orderflow.domain.model import Product


def reserve(products: Mapping[str, Product], wanted: Mapping[str, int]) -> None:
    """Take `wanted` units from `products`, all or nothing.

    Every line is checked before any stock moves, so a failure leaves every
    product exactly as it was. Raises ProductNotFound or InsufficientStock.
    """
    for product_id in sorted(wanted):
        product = products.get(product_id)
        if product is None:
            raise ProductNotFound(product_id)
        if wanted[product_id] > product.stock:
            raise InsufficientStock(product_id, wanted[product_id], product.stock)
    for product_id in sorted(wanted):
        products[product_id].take(wanted[product_id])


def release(products: Mapping[str, Product], units: Mapping[str, int]) -> None:
    """Put back `units` a cancelled order held (Order.cancel). Products are
    never deleted, so each one is there to take its units back."""
    for product_id in sorted(units):
        product = products.get(product_id)
        if product is None:
            raise ProductNotFound(product_id)
        product.put_back(units[product_id])
