"""The contract of OrderCache (orderflow.ports.cache).

A subclass supplies three fixtures:

- `cache`: an empty OrderCache with the default TTL (3600 s);
- `remaining_ttl`: a callable `(order_id) -> seconds | None`, how long the
  cached entry of that order has left (None: no entry), read from the store
  itself (for Redis: the TTL command);
- `unreachable_cache`: an OrderCache whose store cannot be reached.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orderflow.domain.errors import CacheUnavailable
from orderflow.domain.model import Customer, Order, OrderLine, PaymentMethod
from orderflow.ports.cache import OrderCache

DEFAULT_TTL_S = 3600
UNAVAILABLE_DEADLINE_S = 1.0
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def an_order() -> Order:
    return Order.place(
        order_id=str(uuid.uuid4()),
        customer=Customer("Ada Lovelace", "ada@example.com", "12 Analytical St"),
        items=(
            OrderLine("laptop", 1, Decimal("999.00")),
            OrderLine("mouse", 2, Decimal("19.90")),
        ),
        payment_method=PaymentMethod.CARD,
        now=T0,
    )


def copy_of(order: Order) -> Order:
    return Order.from_dict(order.to_dict())


class CacheContract:
    # --- fixtures a subclass supplies ------------------------------------------

    @pytest.fixture
    def cache(self) -> OrderCache:
        raise NotImplementedError("the adapter's suite supplies `cache`")

    @pytest.fixture
    def remaining_ttl(self) -> Callable[[str], float | None]:
        raise NotImplementedError("the adapter's suite supplies `remaining_ttl`")

    @pytest.fixture
    def unreachable_cache(self) -> OrderCache:
        raise NotImplementedError("the adapter's suite supplies `unreachable_cache`")

    # --- the contract -----------------------------------------------------------

    def test_an_order_never_cached_is_a_miss(self, cache: OrderCache) -> None:
        assert cache.get(str(uuid.uuid4())) is None

    def test_a_cached_order_comes_back_equal(self, cache: OrderCache) -> None:
        order = an_order()

        assert cache.put(order) is True
        cached = cache.get(order.id)

        assert cached is not None
        assert cached.to_dict() == order.to_dict()
        assert cached.total == Decimal("1038.80")

    def test_a_deleted_order_is_a_miss(self, cache: OrderCache) -> None:
        order = an_order()
        cache.put(order)

        cache.delete(order.id)
        cache.delete(order.id)  # deleting what is not there is fine

        assert cache.get(order.id) is None
        assert cache.put(order) is True, "a deleted order can be cached again"

    def test_entries_live_for_the_default_ttl_of_an_hour(
        self, cache: OrderCache, remaining_ttl: Callable[[str], float | None]
    ) -> None:
        order = an_order()
        cache.put(order)

        ttl = remaining_ttl(order.id)

        assert ttl is not None
        assert DEFAULT_TTL_S - 10 <= ttl <= DEFAULT_TTL_S
        assert remaining_ttl(str(uuid.uuid4())) is None

    def test_an_older_version_never_replaces_a_newer_one(self, cache: OrderCache) -> None:
        order = an_order()
        stale = copy_of(order)  # version 1, pending
        order.start_processing(T0 + timedelta(seconds=1))
        order.complete(T0 + timedelta(seconds=2))  # version 3
        cache.put(order)

        assert cache.put(stale) is False
        cached = cache.get(order.id)

        assert cached is not None
        assert (cached.version, cached.status.value) == (3, "completed")

    def test_a_newer_version_replaces_an_older_one(self, cache: OrderCache) -> None:
        order = an_order()
        cache.put(order)
        order.cancel(T0 + timedelta(seconds=1))

        assert cache.put(order) is True
        cached = cache.get(order.id)

        assert cached is not None
        assert (cached.version, cached.status.value) == (2, "cancelled")

    def test_a_cancelled_order_replaces_its_completed_version(self, cache: OrderCache) -> None:
        order = an_order()
        order.start_processing(T0 + timedelta(seconds=1))
        order.complete(T0 + timedelta(seconds=2))
        completed = copy_of(order)
        cache.put(order)
        order.cancel(T0 + timedelta(seconds=3))

        assert cache.put(order) is True
        assert cache.put(completed) is False  # a worker's late write-through
        cached = cache.get(order.id)

        assert cached is not None
        assert (cached.version, cached.status.value, cached.reserved) == (4, "cancelled", {})

    def test_the_same_version_can_be_written_again(self, cache: OrderCache) -> None:
        order = an_order()
        cache.put(order)

        assert cache.put(copy_of(order)) is True

    def test_concurrent_writers_leave_the_newest_version(self, cache: OrderCache) -> None:
        order = an_order()
        versions = list(range(1, 41))
        random.Random(7).shuffle(versions)
        start = threading.Barrier(4)

        def writer(mine: list[int]) -> None:
            start.wait()
            for version in mine:
                snapshot = copy_of(order)
                snapshot.version = version
                cache.put(snapshot)

        threads = [threading.Thread(target=writer, args=(versions[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cached = cache.get(order.id)

        assert cached is not None
        assert cached.version == 40

    @pytest.mark.parametrize("operation", ["get", "put", "delete", "ping"])
    def test_an_unreachable_cache_raises_cache_unavailable_within_a_second(
        self, unreachable_cache: OrderCache, operation: str
    ) -> None:
        order = an_order()
        calls: dict[str, Callable[[], object]] = {
            "get": lambda: unreachable_cache.get(order.id),
            "put": lambda: unreachable_cache.put(order),
            "delete": lambda: unreachable_cache.delete(order.id),
            "ping": unreachable_cache.ping,
        }
        started = time.monotonic()

        with pytest.raises(CacheUnavailable):
            calls[operation]()

        assert time.monotonic() - started < UNAVAILABLE_DEADLINE_S
