"""The contract of FallbackKeys (orderflow.ports.fallback_keys). A subclass
supplies `keys`, built on the `clock` fixture (a SettableClock), with a
retention of one day."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.ports.clock import Clock
from orderflow.ports.fallback_keys import FallbackKeys
from orderflow.ports.idempotency import IdempotencyRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RETENTION = timedelta(days=1)


class SettableClock(Clock):
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


def record(key: str, fingerprint: str, *, at: datetime = T0) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key, fingerprint=fingerprint, order_id=f"order-{key}", response={}, created_at=at
    )


class FallbackKeysContract:
    @pytest.fixture
    def clock(self) -> SettableClock:
        return SettableClock()

    @pytest.fixture
    def keys(self, clock: SettableClock) -> FallbackKeys:
        raise NotImplementedError

    def test_the_first_record_under_a_key_wins(self, keys: FallbackKeys) -> None:
        first, second = record("k", "body-1"), record("k", "body-2")

        assert keys.remember_first(first) == first
        assert keys.remember_first(second) == first
        assert keys.recall("k") == first

    def test_an_unknown_key_is_recalled_as_none(self, keys: FallbackKeys) -> None:
        assert keys.recall("never") is None

    def test_forget_drops_only_the_record_the_key_holds(self, keys: FallbackKeys) -> None:
        first = record("k", "body-1")
        keys.remember_first(first)

        keys.forget(record("k", "body-2"))
        assert keys.recall("k") == first
        keys.forget(first)
        assert keys.recall("k") is None

    def test_a_record_older_than_the_retention_is_gone(
        self, keys: FallbackKeys, clock: SettableClock
    ) -> None:
        keys.remember_first(record("k", "body-1"))
        clock.at = T0 + RETENTION + timedelta(seconds=1)

        assert keys.recall("k") is None
        fresh = record("k", "body-2", at=clock.at)
        assert keys.remember_first(fresh) == fresh

    def test_of_concurrent_first_records_exactly_one_wins(self, keys: FallbackKeys) -> None:
        candidates = [record("k", f"body-{n}") for n in range(32)]
        with ThreadPoolExecutor(8) as pool:
            winners = list(pool.map(keys.remember_first, candidates))

        assert len({winner.fingerprint for winner in winners}) == 1
        assert winners[0] in candidates
