"""The cache as the services use it: a best-effort accelerator. A cache fault
is counted and treated as a miss, never raised to the caller (SPEC: Cache)."""

from __future__ import annotations

import logging

from orderflow.domain.errors import CacheUnavailable
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.metrics import Metrics

log = logging.getLogger(__name__)


class BestEffortCache:
    def __init__(self, *, cache: OrderCache, metrics: Metrics) -> None:
        self._cache = cache
        self._metrics = metrics

    def get(self, order_id: str) -> Order | None:
        try:
            order = self._cache.get(order_id)
        except CacheUnavailable as exc:
            self._fault("get", exc)
            return None
        self._metrics.increment("cache_requests_total", result="hit" if order else "miss")
        return order

    def put(self, order: Order) -> None:
        try:
            self._cache.put(order)
        except CacheUnavailable as exc:
            self._fault("put", exc)

    def _fault(self, operation: str, exc: CacheUnavailable) -> None:
        self._metrics.increment("cache_errors_total", operation=operation)
        log.warning("cache %s failed, using the database: %s", operation, exc)
