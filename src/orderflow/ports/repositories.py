"""Repositories: collections of aggregates, used inside a unit of work."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orderflow.domain.model import Order, OrderStatus, Product


class OrderRepository(ABC):
    @abstractmethod
    def add(self, order: Order) -> None:
        """Stage a new order. Raises DuplicateKey if its id is already stored
        (at the latest when the unit of work commits)."""

    def add_many(self, orders: Sequence[Order]) -> None:
        """add() for each order; DuplicateKey if any id is taken."""
        for order in orders:
            self.add(order)

    @abstractmethod
    def get(self, order_id: str) -> Order | None:
        """The order, or None. Takes no lock."""

    @abstractmethod
    def get_for_update(self, order_id: str) -> Order | None:
        """The order, locked against concurrent writers until the unit of work ends."""

    def get_many_for_update(self, order_ids: Sequence[str]) -> dict[str, Order]:
        """Lock and return the named orders, in sorted id order (so that
        concurrent batches cannot deadlock); unknown ids are absent. Adapters
        with a cheaper way than one get_for_update per id override it."""
        found: dict[str, Order] = {}
        for order_id in sorted(set(order_ids)):
            order = self.get_for_update(order_id)
            if order is not None:
                found[order_id] = order
        return found

    @abstractmethod
    def save(self, order: Order) -> None:
        """Stage the changed order (status, failure_reason, updated_at, version)."""

    def save_many(self, orders: Sequence[Order]) -> None:
        """Stage every changed order; like save() for each."""
        for order in orders:
            self.save(order)

    @abstractmethod
    def list_owned(self, *, owner: str, limit: int, offset: int) -> list[Order]:
        """The orders of `owner` (domain/identity.py), newest first (created_at,
        then id, both descending), skipping `offset` and at most `limit`."""

    @abstractmethod
    def list_stuck(
        self, *, statuses: Sequence[OrderStatus], older_than: datetime, limit: int
    ) -> list[Order]:
        """Orders in one of `statuses` not updated since `older_than`, oldest first."""


# A search counts its matches up to this many (or up to the end of the page
# asked for, if that is further): beyond it the total is a lower bound, as a
# search engine's "1,000+ results". Counting every match of a common word
# means reading every match; a page needs only the first offset + limit.
SEARCH_COUNT_CAP = 1000


def search_count_bound(*, limit: int, offset: int) -> int:
    """How many matches a search counts at most: one more than the cap or
    than the end of the page, so that a count reaching it proves there are
    more matches than that (and than the page shows)."""
    return max(SEARCH_COUNT_CAP, max(offset, 0) + max(limit, 0)) + 1


@dataclass(frozen=True, slots=True)
class ProductPage:
    items: list[Product]
    # Every match when total_exact; otherwise a lower bound that is larger
    # than offset + limit (there are more matches than the page reaches).
    total: int
    total_exact: bool = True

    @classmethod
    def counted(cls, items: list[Product], *, counted: int, bound: int) -> ProductPage:
        """A page whose total was counted up to `bound` (search_count_bound)."""
        return cls(items=items, total=counted, total_exact=counted < bound)


class ProductRepository(ABC):
    @abstractmethod
    def upsert(self, product: Product) -> None:
        """Insert the product, or overwrite name, description, price and stock of an existing id."""

    @abstractmethod
    def get(self, product_id: str) -> Product | None:
        """The product, or None. Takes no lock."""

    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        """The named products that exist, without locks."""
        found: dict[str, Product] = {}
        for product_id in sorted(set(product_ids)):
            product = self.get(product_id)
            if product is not None:
                found[product_id] = product
        return found

    def prices(self, product_ids: Sequence[str]) -> dict[str, Decimal]:
        """The price of each named product that exists, without locks (all
        that placing an order reads; adapters may read less than get_many)."""
        return {pid: product.price for pid, product in self.get_many(product_ids).items()}

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

    def save_many(self, products: Sequence[Product]) -> None:
        """Stage every product's new stock; like save() for each."""
        for product in products:
            self.save(product)

    @abstractmethod
    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        """Case-insensitive substring match over name and description, ordered
        by name then id. The text is a literal: no pattern or operator syntax.
        The total is exact up to search_count_bound(limit=, offset=) - 1
        matches; at the bound it is the bound and total_exact is False."""

    @abstractmethod
    def count(self) -> int:
        """How many products are stored."""
