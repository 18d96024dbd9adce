"""The cache contract against Redis (a claimed database on the machine's
server unless ORDERFLOW_TEST_REDIS_URL names one), plus the Redis specifics:
the key and value layout, the prefix, and a server that never answers."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from orderflow.adapters.redis.cache import RedisOrderCache
from orderflow.domain.errors import CacheUnavailable
from orderflow.ports.cache import OrderCache
from tests.contracts.cache_contract import CacheContract, an_order
from tests.support.processes import free_port


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class TestRedisOrderCache(CacheContract):
    @pytest.fixture
    def cache(self, redis_url: str) -> Iterator[OrderCache]:
        cache = RedisOrderCache.from_url(redis_url)
        yield cache
        cache.close()

    @pytest.fixture
    def remaining_ttl(self, raw_redis: redis.Redis) -> Callable[[str], float | None]:
        def ttl(order_id: str) -> float | None:
            seconds = int(raw_redis.ttl(f"order:{order_id}"))
            return None if seconds < 0 else float(seconds)

        return ttl

    @pytest.fixture
    def unreachable_cache(self) -> Iterator[OrderCache]:
        cache = RedisOrderCache.from_url(f"redis://127.0.0.1:{free_port()}/0")
        yield cache
        cache.close()


def test_an_order_is_stored_as_its_json_under_order_id(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    cache = RedisOrderCache.from_url(redis_url)
    order = an_order()

    cache.put(order)

    assert json.loads(raw_redis.get(f"order:{order.id}") or b"") == order.to_dict()
    cache.close()


def test_a_prefix_and_a_ttl_can_be_configured(redis_url: str, raw_redis: redis.Redis) -> None:
    cache = RedisOrderCache.from_url(redis_url, prefix="shop1:", ttl_s=60)
    order = an_order()

    cache.put(order)

    assert 50 <= int(raw_redis.ttl(f"shop1:order:{order.id}")) <= 60
    assert raw_redis.exists(f"order:{order.id}") == 0
    cache.close()


def test_an_unreadable_entry_is_a_miss_and_is_dropped(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    cache = RedisOrderCache.from_url(redis_url)
    order_id = str(uuid.uuid4())
    raw_redis.set(f"order:{order_id}", b"{not json")

    assert cache.get(order_id) is None
    assert raw_redis.exists(f"order:{order_id}") == 0
    order = an_order()
    raw_redis.set(f"order:{order.id}", b"garbage")
    assert cache.put(order) is True, "a versioned write replaces what it cannot read"
    cache.close()


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfe{}", b"[1, 2]", b"null", b'{"version": NaN}', b"{" * 2000 + b"}" * 2000],
    ids=["not-utf-8", "a-list", "null", "nan", "deep"],
)
def test_any_entry_that_is_not_a_snapshot_is_a_miss_and_is_dropped(
    redis_url: str, raw_redis: redis.Redis, value: bytes
) -> None:
    cache = RedisOrderCache.from_url(redis_url)
    order = an_order()
    raw_redis.set(f"order:{order.id}", json.dumps(order.to_dict()).encode()[:-1] + b", " + b"}")
    assert cache.get(order.id) is None  # a trailing comma: not JSON
    raw_redis.set(f"order:{order.id}", value)

    assert cache.get(order.id) is None
    assert raw_redis.exists(f"order:{order.id}") == 0
    cache.close()


def test_a_snapshot_reads_back_as_the_order_it_was(redis_url: str) -> None:
    cache = RedisOrderCache.from_url(redis_url)
    order = an_order()
    cache.put(order)

    cached = cache.get(order.id)

    assert cached is not None and cached.to_dict() == order.to_dict()
    cache.close()


def test_a_server_that_never_answers_raises_cache_unavailable_within_a_second() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)  # accepts into the backlog, never answers
        cache = RedisOrderCache.from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()

        with pytest.raises(CacheUnavailable):
            cache.get("any")

        assert time.monotonic() - started < 1.0
        cache.close()
