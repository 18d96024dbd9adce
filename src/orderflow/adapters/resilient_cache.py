"""The cache as the services use it: a best-effort accelerator. A cache fault
is counted and treated as a miss, never raised to the caller. A decorator of
the OrderCache port, composed in the container around the real cache.

A failed write can leave an older snapshot in the cache (the worker cached
`processing`, then could not cache `completed`), which every process would
then serve until the TTL ends. So a snapshot that could not be written is
kept and written again once the cache answers: on this instance's next
cache call, and by a repair thread every `repair_every_s` until none is
left. Meanwhile this instance reads those orders from the database. (If the
process ends first, the older snapshot stays until its TTL.)"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from orderflow.domain.errors import CacheUnavailable
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache
from orderflow.ports.metrics import CACHE_ERRORS, CACHE_REQUESTS, Metrics

log = logging.getLogger(__name__)


class ResilientOrderCache(OrderCache):
    def __init__(
        self,
        cache: OrderCache,
        *,
        metrics: Metrics,
        repair_every_s: float = 1.0,
        max_unwritten: int = 10_000,
        give_up_after_s: float = 3600.0,
    ) -> None:
        self._cache = cache
        self._metrics = metrics
        self._repair_every_s = repair_every_s
        self._max_unwritten = max_unwritten
        # After the cache's TTL the older snapshot has expired by itself.
        self._give_up_after_s = give_up_after_s
        self._lock = threading.Lock()
        # order id -> the newest snapshot the cache failed to take, and when
        self._unwritten: OrderedDict[str, tuple[Order, float]] = OrderedDict()
        self._repairer: threading.Thread | None = None

    def get(self, order_id: str) -> Order | None:
        if self._pending(order_id) and not self.repair():
            return None  # the cached snapshot may be older than the database's
        try:
            order = self._cache.get(order_id)
        except CacheUnavailable as exc:
            self._fault("get", exc)
            return None
        self._metrics.increment(CACHE_REQUESTS, result="hit" if order else "miss")
        return order

    def put(self, order: Order) -> bool:
        try:
            written = self._cache.put(order)
        except CacheUnavailable as exc:
            self._fault("put", exc)
            self._remember(order)
            return False
        self._forget(order)
        return written

    def delete(self, order_id: str) -> None:
        try:
            self._cache.delete(order_id)
        except CacheUnavailable as exc:
            self._fault("delete", exc)

    def ping(self) -> None:
        self._cache.ping()  # readiness wants to know

    def repair(self) -> bool:
        """Write the snapshots the cache failed to take, oldest first; stops at
        the first failure. True when none is left."""
        while True:
            with self._lock:
                if not self._unwritten:
                    return True
                order, failed_at = next(iter(self._unwritten.values()))
                if time.monotonic() - failed_at > self._give_up_after_s:
                    del self._unwritten[order.id]
                    continue
            try:
                # Versioned: never replaces a newer snapshot written meanwhile.
                self._cache.put(order)
            except CacheUnavailable:
                return False
            self._forget(order)

    def _pending(self, order_id: str) -> bool:
        with self._lock:
            return order_id in self._unwritten

    def _remember(self, order: Order) -> None:
        with self._lock:
            known = self._unwritten.get(order.id)
            if known is None or known[0].version <= order.version:
                self._unwritten[order.id] = (order, time.monotonic())
                self._unwritten.move_to_end(order.id)
            while len(self._unwritten) > self._max_unwritten:
                dropped, _ = self._unwritten.popitem(last=False)
                log.warning("cache repair backlog full: %s may read stale until its TTL", dropped)
            if self._repairer is None or not self._repairer.is_alive():
                self._repairer = threading.Thread(
                    target=self._repair_loop, name="cache-repair", daemon=True
                )
                self._repairer.start()

    def _forget(self, order: Order) -> None:
        with self._lock:
            known = self._unwritten.get(order.id)
            if known is not None and known[0].version <= order.version:
                del self._unwritten[order.id]

    def _repair_loop(self) -> None:
        stop = threading.Event()
        while not stop.wait(self._repair_every_s):
            if self.repair():
                with self._lock:
                    # Re-checked under the lock: a failure just after the
                    # repair finds this thread gone and starts a new one.
                    if not self._unwritten:
                        self._repairer = None
                        return

    def put_many(self, orders: Sequence[Order]) -> None:
        if not orders:
            return
        try:
            self._cache.put_many(orders)
        except CacheUnavailable as exc:
            self._fault("put", exc)
            for order in orders:
                self._remember(order)
            return
        for order in orders:
            self._forget(order)

    def _fault(self, operation: str, exc: CacheUnavailable) -> None:
        self._metrics.increment(CACHE_ERRORS, operation=operation)
        log.warning("cache %s failed, using the database: %s", operation, exc)
