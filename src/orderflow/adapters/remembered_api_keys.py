"""ApiKeyStore decorator: remembers the keys it has verified, so that
authenticating a service neither reads the database on every request nor
fails while the database is down.

- A key read less than `fresh_for` ago is answered from memory: a
  revocation made by another process takes effect within that time (this
  process's own revocations at once).
- While the store is unavailable, a key verified less than `usable_for`
  ago is still accepted: intake's broker fallback keeps serving the shops
  it served a moment ago. A key never seen, or seen too long ago, is the
  StorageUnavailable it was (503).
- Only found keys are remembered, at most `capacity` of them (the oldest
  go first): unknown secrets cost a lookup each and take no memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.identity import ApiKey
from orderflow.ports.api_keys import ApiKeyStore


class RememberedApiKeys(ApiKeyStore):
    def __init__(
        self,
        store: ApiKeyStore,
        *,
        fresh_for: timedelta,
        usable_for: timedelta,
        capacity: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._fresh_s = fresh_for.total_seconds()
        self._usable_s = usable_for.total_seconds()
        self._capacity = capacity
        self._now = monotonic
        self._lock = threading.Lock()
        self._known: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()

    def find_by_digest(self, secret_digest: str) -> ApiKey | None:
        with self._lock:
            remembered = self._known.get(secret_digest)
        now = self._now()
        if remembered is not None and now - remembered[0] < self._fresh_s:
            return remembered[1]
        try:
            key = self._store.find_by_digest(secret_digest)
        except StorageUnavailable:
            if remembered is not None and now - remembered[0] < self._usable_s:
                return remembered[1]
            raise
        with self._lock:
            if key is None:
                self._known.pop(secret_digest, None)
            else:
                self._known[secret_digest] = (now, key)
                self._known.move_to_end(secret_digest)
                while len(self._known) > self._capacity:
                    self._known.popitem(last=False)
        return key

    def add(self, key: ApiKey) -> None:
        self._store.add(key)

    def list_keys(self) -> list[ApiKey]:
        return self._store.list_keys()

    def revoke(self, name_or_id: str, *, at: datetime) -> ApiKey | None:
        revoked = self._store.revoke(name_or_id, at=at)
        if revoked is not None:
            with self._lock:
                self._known.pop(revoked.secret_digest, None)
        return revoked

    def close(self) -> None:
        self._store.close()
