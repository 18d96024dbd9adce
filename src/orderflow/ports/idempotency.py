"""Idempotency-Key records: the first response to a key, kept for replay."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    key: str
    fingerprint: str
    order_id: str
    response: dict[str, Any]  # the first response body, replayed verbatim
    created_at: datetime


class IdempotencyStore(ABC):
    @abstractmethod
    def get(self, key: str) -> IdempotencyRecord | None:
        """The record stored for `key`, or None."""

    @abstractmethod
    def add(self, record: IdempotencyRecord) -> None:
        """Stage a record. Raises DuplicateKey (at the latest on commit) when the
        key is already stored, which is how concurrent retries are serialised."""

    @abstractmethod
    def purge(self, *, older_than: datetime) -> int:
        """Delete records created before `older_than`; returns how many."""
