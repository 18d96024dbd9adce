"""The order cache on Redis: `{prefix}order:<id>` holds the JSON of
Order.to_dict() with a TTL. Writes are versioned by a Lua script, so a slow
writer holding an old snapshot never replaces a newer one."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import orjson
import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from orderflow.adapters.fast_json import dumps_bytes
from orderflow.domain.errors import CacheUnavailable
from orderflow.domain.model import Order
from orderflow.ports.cache import OrderCache

log = logging.getLogger(__name__)

# KEYS[1]: the order's key. ARGV: the JSON snapshot, its version, the TTL in
# seconds. Writes unless the cached snapshot has a higher version; an
# unreadable cached value is simply replaced. Returns 1 if written, else 0.
PUT_IF_NOT_OLDER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, cached = pcall(cjson.decode, current)
  if ok and type(cached) == 'table' then
    local version = tonumber(cached['version'])
    if version and version > tonumber(ARGV[2]) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class RedisOrderCache(OrderCache):
    """Every Redis error, timeouts included, becomes CacheUnavailable. Keep the
    client's socket timeouts short (from_url does): a cache that hangs would
    make every read wait, where the database could have answered."""

    def __init__(self, client: redis.Redis, *, ttl_s: float = 3600, prefix: str = "") -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._client = client
        self._ttl_s = math.ceil(ttl_s)
        self._prefix = prefix
        self._put_script = client.register_script(PUT_IF_NOT_OLDER)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl_s: float = 3600,
        prefix: str = "",
        timeout_s: float = 0.25,
    ) -> RedisOrderCache:
        """From ORDERFLOW_CACHE_URL (`redis://host:port/db`). One retry without
        backoff lets a pooled connection that went stale (a Redis restart)
        reconnect; an unreachable Redis still fails within about 2 x timeout_s."""
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        return cls(client, ttl_s=ttl_s, prefix=prefix)

    def key(self, order_id: str) -> str:
        return f"{self._prefix}order:{order_id}"

    def get(self, order_id: str) -> Order | None:
        key = self.key(order_id)
        try:
            raw: Any = self._client.get(key)
        except RedisError as exc:
            raise CacheUnavailable(f"redis GET failed: {exc}") from exc
        if raw is None:
            return None
        try:
            # orjson reads a snapshot (written by put, or by json.dumps in
            # earlier releases) as json.loads does, at a third of its CPU;
            # what it refuses is a ValueError, a miss.
            return Order.from_dict(orjson.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            # A value this code cannot read (another version wrote it, or it
            # was damaged) is a miss; drop it so the database refills it.
            log.warning("dropping unreadable cache entry %s: %s", key, exc)
            self.delete(order_id)
            return None

    def put(self, order: Order) -> bool:
        snapshot = dumps_bytes(order.to_dict())
        try:
            written = self._put_script(
                keys=[self.key(order.id)], args=[snapshot, order.version, self._ttl_s]
            )
        except RedisError as exc:
            raise CacheUnavailable(f"redis versioned SET failed: {exc}") from exc
        return bool(written)

    def put_many(self, orders: Sequence[Order]) -> None:
        """Every versioned write in one round trip (a pipeline, not a
        transaction: each write stands on its own version check)."""
        if not orders:
            return
        try:
            pipeline = self._client.pipeline(transaction=False)
            for order in orders:
                snapshot = dumps_bytes(order.to_dict())
                self._put_script(
                    keys=[self.key(order.id)],
                    args=[snapshot, order.version, self._ttl_s],
                    client=pipeline,
                )
            pipeline.execute()
        except RedisError as exc:
            raise CacheUnavailable(
                f"redis versioned SET of {len(orders)} orders failed: {exc}"
            ) from exc

    def delete(self, order_id: str) -> None:
        try:
            self._client.delete(self.key(order_id))
        except RedisError as exc:
            raise CacheUnavailable(f"redis DEL failed: {exc}") from exc

    def ping(self) -> None:
        try:
            self._client.ping()
        except RedisError as exc:
            raise CacheUnavailable(f"redis does not answer: {exc}") from exc

    def close(self) -> None:
        self._client.close()
