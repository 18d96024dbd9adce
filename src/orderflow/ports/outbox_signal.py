"""The outbox's doorbell: whoever commits outbox rows rings it, and the relay
waits on it between drains instead of sleeping out its poll interval.

A hint, never a guarantee: a ring may be lost (a process between two
networks, a cache outage), so the relay still polls at its interval, and
nothing depends on a ring arriving. What a ring buys is latency: the relay
starts on the commit, not up to one interval after it."""

from __future__ import annotations

from abc import ABC, abstractmethod


class OutboxSignal(ABC):
    @abstractmethod
    def ring(self) -> None:
        """Say that the outbox has new rows. Never raises: a failure to ring
        costs the relay one poll interval, not the caller its commit."""

    @abstractmethod
    def wait(self, timeout_s: float) -> bool:
        """Block until a ring or `timeout_s`; True if rung. Once a waiter has
        waited, rings that come between its waits are kept as one (its next
        wait returns at once). Never raises: an unreachable doorbell waits
        out the timeout."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release the connection a doorbell across processes holds."""
