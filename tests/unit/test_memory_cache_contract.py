"""The cache contract against the in-process cache; a closed cache plays the
unreachable one (every call raises CacheUnavailable, as a closed connection
to Redis would)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orderflow.adapters.memory.cache import MemoryOrderCache
from orderflow.ports.cache import OrderCache
from tests.contracts.cache_contract import CacheContract


class TestMemoryOrderCache(CacheContract):
    @pytest.fixture
    def memory_cache(self) -> MemoryOrderCache:
        return MemoryOrderCache()

    @pytest.fixture
    def cache(self, memory_cache: MemoryOrderCache) -> OrderCache:
        return memory_cache

    @pytest.fixture
    def remaining_ttl(self, memory_cache: MemoryOrderCache) -> Callable[[str], float | None]:
        return memory_cache.ttl

    @pytest.fixture
    def unreachable_cache(self) -> OrderCache:
        cache = MemoryOrderCache()
        cache.close()
        return cache
