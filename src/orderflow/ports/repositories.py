"""Repositories: collections of aggregates, used inside a unit of work."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from orderflow.domain.model import Order, OrderStatus, Product


class OrderRepository(ABC):
    @abstractmethod
    def add(self, order: Order) -> None:
        """Stage a new order. Raises DuplicateKey if its id is already stored
        (at the latest when the unit of work commits)."""

    @abstractmethod
    def get(self, order_id: str) -> Order | None:
        """The order, or None. Takes no lock."""

    @abstractmethod
    def get_for_update(self, order_id: str) -> Order | None:
        """The order, locked against concurrent writers until the unit of work ends."""

    @abstractmethod
    def save(self, order: Order) -> None:
        """Stage the changed order (status, failure_reason, updated_at, version)."""

    @abstractmethod
    def list_stuck(
        self, *, statuses: Sequence[OrderStatus], older_than: datetime, limit: int
    ) -> list[Order]:
        """Orders in one of `statuses` not updated since `older_than`, oldest first."""


@dataclass(frozen=True, slots=True)
class ProductPage:
    items: list[Product]
    total: int


class ProductRepository(ABC):
    @abstractmethod
    def upsert(self, product: Product) -> None:
        """Insert the product, or overwrite name, description, price and stock of an existing id."""

    @abstractmethod
    def get(self, product_id: str) -> Product | None:
        """The product, or None. Takes no lock."""

    @abstractmethod
    def get_by_name(self, name: str) -> Product | None:
        """The product whose name equals `name` ignoring case (lowest id on ties), or None."""

    @abstractmethod
    def get_many_for_update(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """Lock and return the named products. Relational stores lock rows in
        sorted id order (SELECT ... FOR UPDATE) so concurrent workers cannot
        deadlock. Unknown ids are simply absent from the result."""

    @abstractmethod
    def save(self, product: Product) -> None:
        """Stage the product's new stock."""

    @abstractmethod
    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        """Case-insensitive substring match over name and description, ordered
        by name then id. The text is a literal: no pattern or operator syntax."""

    @abstractmethod
    def count(self) -> int:
        """How many products are stored."""
