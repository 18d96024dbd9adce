"""FallbackKeys on its memory adapter, plus its bound on the number of keys."""

from __future__ import annotations

import pytest

from orderflow.adapters.memory.fallback_keys import MemoryFallbackKeys
from orderflow.ports.fallback_keys import FallbackKeys
from tests.contracts.fallback_keys_contract import (
    RETENTION,
    FallbackKeysContract,
    SettableClock,
    record,
)


class TestMemoryFallbackKeys(FallbackKeysContract):
    @pytest.fixture
    def keys(self, clock: SettableClock) -> FallbackKeys:
        return MemoryFallbackKeys(clock=clock, retention=RETENTION)


def test_the_oldest_keys_go_first_beyond_the_limit() -> None:
    keys = MemoryFallbackKeys(clock=SettableClock(), retention=RETENTION, limit=2)
    for name in ("a", "b", "c"):
        keys.remember_first(record(name, "body"))

    assert keys.recall("a") is None
    assert keys.recall("b") is not None and keys.recall("c") is not None
