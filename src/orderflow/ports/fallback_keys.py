"""The Idempotency-Keys intake published straight to the broker while the
database could not be reached (the broker fallback), with the fingerprint
of the first body and the first response: a retry under the same key is
answered like on the normal path (the same response, or 422 for another
body) although no record could be stored in the database."""

from __future__ import annotations

from abc import ABC, abstractmethod

from orderflow.ports.idempotency import IdempotencyRecord


class FallbackKeys(ABC):
    @abstractmethod
    def remember_first(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Keep `record` unless its key is kept already; the record the key
        holds after the call (`record` itself when it was new). Atomic: of
        concurrent calls under one key, exactly one gets its own back."""

    @abstractmethod
    def recall(self, key: str) -> IdempotencyRecord | None:
        """The record kept for `key`, or None (never kept, forgotten, or
        older than the retention)."""

    @abstractmethod
    def forget(self, record: IdempotencyRecord) -> None:
        """Drop `record` if its key still holds it (its publish failed)."""
