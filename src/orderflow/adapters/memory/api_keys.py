"""API keys in memory: a real, thread-safe store (the memory database's,
and the tests' where no database is configured)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from orderflow.domain.errors import DuplicateKey
from orderflow.domain.identity import ApiKey
from orderflow.ports.api_keys import ApiKeyStore


class MemoryApiKeyStore(ApiKeyStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}  # by id, in insertion order

    def add(self, key: ApiKey) -> None:
        with self._lock:
            for known in self._keys.values():
                if key.id == known.id or key.name == known.name:
                    raise DuplicateKey(f"API key {key.name!r} already exists")
                if key.secret_digest == known.secret_digest:
                    raise DuplicateKey("API key secret already stored")
            self._keys[key.id] = key

    def find_by_digest(self, secret_digest: str) -> ApiKey | None:
        with self._lock:
            return next(
                (key for key in self._keys.values() if key.secret_digest == secret_digest), None
            )

    def list_keys(self) -> list[ApiKey]:
        with self._lock:
            return sorted(self._keys.values(), key=lambda key: (key.created_at, key.id))

    def revoke(self, name_or_id: str, *, at: datetime) -> ApiKey | None:
        with self._lock:
            found = next((k for k in self._keys.values() if k.name == name_or_id), None)
            found = found or self._keys.get(name_or_id)
            if found is None:
                return None
            if found.revoked_at is None:
                found = replace(found, revoked_at=at)
                self._keys[found.id] = found
            return found
