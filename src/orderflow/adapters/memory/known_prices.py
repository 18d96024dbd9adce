"""The prices this process last read from the catalog, in its memory."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from decimal import Decimal

from orderflow.ports.prices import KnownPrices


class MemoryKnownPrices(KnownPrices):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prices: dict[str, Decimal] = {}

    def remember(self, prices: Mapping[str, Decimal]) -> None:
        with self._lock:
            self._prices.update(prices)

    def recall(self, product_ids: Iterable[str]) -> dict[str, Decimal]:
        with self._lock:
            return {pid: self._prices[pid] for pid in product_ids if pid in self._prices}
