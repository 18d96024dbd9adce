from __future__ import annotations

from abc import ABC, abstractmethod


class Metrics(ABC):
    """Counters and histograms the services report. Names are fixed strings
    from orderflow.application; labels are small, bounded sets."""

    @abstractmethod
    def increment(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add to a counter."""

    @abstractmethod
    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one observation in a histogram (seconds for durations)."""
