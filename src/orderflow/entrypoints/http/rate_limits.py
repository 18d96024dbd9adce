"""Rate limits: a `before_request` hook on the app, like every other hook,
so it runs for every route (the dashboard's static files, /health and
paths no route matches are the exceptions: they cost nothing and a load
balancer must always reach /health). The counting is the `limits`
library's fixed window, in its Redis or memory storage.

Buckets (docs/SECURITY.md, API4):
- an API key: its own, at ORDERFLOW_RATE_LIMIT_KEY over every route;
- a customer (JWT `sub`): its own, at ORDERFLOW_RATE_LIMIT;
- anyone else, order access tokens and bad credentials included: the
  client address (an IPv6 client's /64), at ORDERFLOW_RATE_LIMIT. A token
  is not a bucket of its own because anyone can mint tokens by placing
  anonymous orders;
- placing an order (POST /api/orders and POST /order share it), customers
  and addresses only: ORDERFLOW_RATE_LIMIT_ORDERS on top.

Counters live in the cache's Redis when there is one (every API process
shares them), else in this process's memory. While Redis does not answer
the counting goes on in memory and Redis is tried again after a backoff,
so an outage never fails a request. Past a limit: 429 problem+json with
Retry-After, the seconds until the window that was exceeded resets."""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from orderflow.config import Settings
from orderflow.domain.errors import InfrastructureError, Unauthenticated
from orderflow.domain.identity import PrincipalKind
from orderflow.entrypoints.http.identity import current_principal
from orderflow.entrypoints.http.problems import FieldError, problem

log = logging.getLogger(__name__)

PLACING = frozenset({"place_order", "place_short_order"})
UNLIMITED = frozenset({"health"})
# A Redis that does not answer must not hold requests: the counting moves
# to memory after one short wait, and Redis is tried again after a pause
# that doubles while it stays away.
_REDIS_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 60.0
_PREFIX = "orderflow-rate"


class Counters:
    """Fixed-window counters in shared storage (Redis), with this process's
    memory standing in while the shared storage fails."""

    def __init__(self, storage_url: str) -> None:
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._shared: FixedWindowRateLimiter | None = None
        if storage_url != "memory://":
            storage = storage_from_string(storage_url, wrap_exceptions=True, **_REDIS_OPTIONS)
            self._shared = FixedWindowRateLimiter(storage)
        self._lock = threading.Lock()
        self._retry_at = 0.0  # while in the future, the shared storage is not asked
        self._pause = _RETRY_FIRST_S

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one request; False when that goes past `item`."""
        shared = self._usable()
        if shared is not None:
            try:
                within = shared.hit(item, *identifiers)
            except StorageError as exc:
                self._failed(exc)
            else:
                if self._pause != _RETRY_FIRST_S:  # the first answer after an outage
                    self._recovered()
                return within
        return self._local.hit(item, *identifiers)

    def reset_at(self, item: RateLimitItem, *identifiers: str) -> float:
        """When the window of `item` that was exceeded ends (epoch seconds)."""
        shared = self._usable()
        if shared is not None:
            try:
                return shared.get_window_stats(item, *identifiers).reset_time
            except StorageError:
                pass  # the refusal stands; its Retry-After is an estimate
        return self._local.get_window_stats(item, *identifiers).reset_time

    def _usable(self) -> FixedWindowRateLimiter | None:
        if self._shared is None or time.monotonic() < self._retry_at:
            return None
        return self._shared

    def _failed(self, exc: StorageError) -> None:
        with self._lock:
            if time.monotonic() < self._retry_at:
                return  # another request has already stepped back
            log.warning("rate limits counted in memory for %g s: %r", self._pause, exc)
            self._retry_at = time.monotonic() + self._pause
            self._pause = min(self._pause * 2, _RETRY_MAX_S)

    def _recovered(self) -> None:
        with self._lock:
            self._pause = _RETRY_FIRST_S
        log.info("rate limits counted in shared storage again")


def client_key() -> str:
    """The request's bucket: its API key or customer, else its address. The
    limit hook, its one caller, asks once per request."""
    try:
        principal = current_principal()
    except (Unauthenticated, InfrastructureError):
        # The view answers 401 (or 503); guessing credentials costs the address.
        principal = None
    if principal is not None and principal.kind is not PrincipalKind.ORDER_TOKEN:
        return principal.id
    return "addr:" + _network(request.remote_addr or "")


def _network(address: str) -> str:
    # One IPv6 client usually holds a whole /64.
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    except ValueError:
        return address


def _exempt(endpoint: str | None) -> bool:
    return endpoint is None or endpoint in UNLIMITED or endpoint.rsplit(".", 1)[-1] == "static"


def register(app: Flask, settings: Settings) -> Counters:
    """Rate-limit every route of `app` as `settings` say."""
    # Parsed once: a bad setting has failed at start already (config.py).
    general = parse_many(settings.rate_limit)
    per_key = parse_many(settings.rate_limit_key)
    placing = parse_many(settings.rate_limit_orders)
    counters = Counters(settings.limits_storage_url)

    def refused(items: Sequence[RateLimitItem], counted: str) -> Response | None:
        for item in items:
            if not counters.hit(item, counted):
                return too_many_requests(item, counters.reset_at(item, counted))
        return None

    @app.before_request
    def limit() -> Response | None:
        endpoint = request.endpoint
        if _exempt(endpoint):
            return None
        bucket = client_key()
        is_key = bucket.startswith("key:")
        # One identifier per counter: `limits` joins identifiers with "/",
        # so the Redis key is the one (_PREFIX, scope, bucket) made, without
        # converting and joining three of them on every request.
        answer = refused(per_key if is_key else general, f"{_PREFIX}/all/{bucket}")
        if answer is None and endpoint in PLACING and not is_key:
            answer = refused(placing, f"{_PREFIX}/orders/{bucket}")
        return answer

    return counters


def too_many_requests(item: RateLimitItem, reset_at: float) -> Response:
    retry_after = max(1, math.ceil(reset_at - time.time()))
    return problem(
        429,
        "too-many-requests",
        "Too many requests",
        f"rate limit exceeded; retry after {retry_after} s",
        [FieldError("client", f"exceeded {item}")],
        headers={"Retry-After": str(retry_after)},
    )
