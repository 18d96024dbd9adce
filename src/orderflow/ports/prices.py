"""The catalog prices intake last read: what it prices an order with while
the database cannot be reached (the broker fallback)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from decimal import Decimal


class KnownPrices(ABC):
    @abstractmethod
    def remember(self, prices: Mapping[str, Decimal]) -> None:
        """Keep these prices, replacing older ones of the same products."""

    @abstractmethod
    def recall(self, product_ids: Iterable[str]) -> dict[str, Decimal]:
        """The last price kept of each named product; unknown ones are absent."""
