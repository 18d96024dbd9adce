"""The keys this process published through the broker fallback, in its
memory: bounded in number and kept for the Idempotency-Key retention."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from orderflow.ports.clock import Clock
from orderflow.ports.fallback_keys import FallbackKeys
from orderflow.ports.idempotency import IdempotencyRecord


class MemoryFallbackKeys(FallbackKeys):
    def __init__(
        self, *, clock: Clock, retention: timedelta = timedelta(hours=24), limit: int = 100_000
    ) -> None:
        self._clock = clock
        self._retention = retention
        self._limit = limit
        self._lock = threading.Lock()
        self._records: OrderedDict[str, IdempotencyRecord] = OrderedDict()

    def remember_first(self, record: IdempotencyRecord) -> IdempotencyRecord:
        with self._lock:
            self._expire(self._clock.now())
            kept = self._records.setdefault(record.key, record)
            while len(self._records) > self._limit:
                self._records.popitem(last=False)  # the oldest first
            return kept

    def recall(self, key: str) -> IdempotencyRecord | None:
        with self._lock:
            self._expire(self._clock.now())
            return self._records.get(key)

    def forget(self, record: IdempotencyRecord) -> None:
        with self._lock:
            if self._records.get(record.key) == record:
                del self._records[record.key]

    def _expire(self, now: datetime) -> None:
        cutoff = now - self._retention
        while self._records:
            key, oldest = next(iter(self._records.items()))
            if oldest.created_at >= cutoff:
                return
            del self._records[key]
