"""API keys: services' credentials, stored by the digest of their secret."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from orderflow.domain.identity import ApiKey


class ApiKeyStore(ABC):
    """A store of its own, outside the orders' units of work: each call is
    one short transaction. Raises StorageUnavailable when the database is
    unreachable."""

    @abstractmethod
    def add(self, key: ApiKey) -> None:
        """Store a new key. DuplicateKey if its id or name is taken (names
        stay taken after a revocation, so a name always means one key)."""

    @abstractmethod
    def find_by_digest(self, secret_digest: str) -> ApiKey | None:
        """The key whose secret has this digest, revoked or not; None if none."""

    @abstractmethod
    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    @abstractmethod
    def revoke(self, name_or_id: str, *, at: datetime) -> ApiKey | None:
        """Revoke the key with this name or id (a second revocation keeps the
        first time) and return it; None if there is no such key."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release what the store holds (connections it does not share)."""
