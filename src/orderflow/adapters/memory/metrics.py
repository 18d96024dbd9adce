from __future__ import annotations

import threading
from collections import defaultdict

from orderflow.ports.metrics import Metrics

LabelKey = tuple[str, tuple[tuple[str, str], ...]]


class MemoryMetrics(Metrics):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[LabelKey, float] = defaultdict(float)
        self.observations: dict[LabelKey, list[float]] = defaultdict(list)

    def increment(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self.counters[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self.observations[(name, tuple(sorted(labels.items())))].append(value)

    def count(self, name: str, **labels: str) -> float:
        with self._lock:
            return self.counters.get((name, tuple(sorted(labels.items()))), 0.0)
