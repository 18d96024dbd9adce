"""The embedded mode's status cache: a dict with TTLs and versioned writes.

`close()` shuts it down: from then on every call raises CacheUnavailable, as
a closed connection to Redis would, and callers fall back to the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from orderflow.domain.errors import CacheUnavailable
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache


class MemoryOrderCache(OrderCache):
    def __init__(
        self, *, ttl_s: float = 3600.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._now = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._entries.clear()

    def ping(self) -> None:
        with self._lock:
            self._check_open()

    def get(self, order_id: str) -> Order | None:
        with self._lock:
            self._check_open()
            entry = self._entries.get(order_id)
            if entry is None:
                return None
            expires_at, snapshot = entry
            if expires_at <= self._now():
                del self._entries[order_id]
                return None
        return Order.from_dict(snapshot)

    def put(self, order: Order) -> bool:
        snapshot = order.to_dict()
        with self._lock:
            self._check_open()
            current = self._entries.get(order.id)
            live = current is not None and current[0] > self._now()
            if live and current is not None and current[1]["version"] > order.version:
                return False
            self._entries[order.id] = (self._now() + self._ttl_s, snapshot)
        return True

    def delete(self, order_id: str) -> None:
        with self._lock:
            self._check_open()
            self._entries.pop(order_id, None)

    def ttl(self, order_id: str) -> float | None:
        """Seconds left before the entry expires, or None (the Redis TTL's twin)."""
        with self._lock:
            self._check_open()
            entry = self._entries.get(order_id)
        return None if entry is None else max(0.0, entry[0] - self._now())

    def _check_open(self) -> None:
        if self._closed:
            raise CacheUnavailable("the in-process cache is closed")
