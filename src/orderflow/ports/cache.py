from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from orderflow.domain.model import Order


class OrderCache(ABC):
    """Cache of order snapshots under `order:<id>` with a TTL.

    Errors: every method raises CacheUnavailable when the cache cannot be
    reached; callers treat that as a miss and count it."""

    @abstractmethod
    def get(self, order_id: str) -> Order | None:
        """The cached order, or None on a miss."""

    @abstractmethod
    def put(self, order: Order) -> bool:
        """Store the order unless a newer version is already cached.
        Returns False when a newer version won (nothing was written)."""

    def put_many(self, orders: Sequence[Order]) -> None:
        """put() for each order; adapters that can send them together override it."""
        for order in orders:
            self.put(order)

    @abstractmethod
    def delete(self, order_id: str) -> None:
        """Forget the order."""

    def ping(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise CacheUnavailable if the cache does not answer."""
