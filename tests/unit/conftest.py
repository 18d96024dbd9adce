from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.model import Customer, PaymentMethod, Product


@pytest.fixture
def app() -> Iterator[Orderflow]:
    """A fully in-memory orderflow with a small catalog."""
    instance = orderflow.bootstrap(database_url="memory://", notify_url="memory://")
    instance.catalog.upsert_many(
        [
            Product("laptop", "Laptop", "A fast laptop", Decimal("999.00"), 10),
            Product("mouse", "Mouse", "Wireless mouse", Decimal("19.90"), 100),
            Product("lamp", "Lamp", "Desk lamp", Decimal("25.00"), 3),
        ]
    )
    yield instance
    instance.close()


def place_command(*lines: tuple[str, int], key: str | None = None) -> PlaceOrder:
    return PlaceOrder(
        customer=Customer("Ada Lovelace", "ada@example.com", "12 Analytical St"),
        items=tuple(LineRequest(product_id, quantity) for product_id, quantity in lines),
        payment_method=PaymentMethod.CARD,
        idempotency_key=key,
    )
