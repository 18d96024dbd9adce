"""Rate limits: Flask-Limiter, registered on the app like every other hook,
so it runs for every route (the dashboard's static files and /health are
the exceptions: they cost nothing and a load balancer must always reach
/health).

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
shares them), else in this process's memory. While Redis is unreachable
the limiter counts in memory and tries Redis again with backoff, so an
outage never fails a request. Past a limit: 429 problem+json with
Retry-After, the seconds until the window that was exceeded resets."""

from __future__ import annotations

import ipaddress
import math
import time
from typing import Any, cast

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded

from orderflow.config import Settings
from orderflow.domain.errors import InfrastructureError, Unauthenticated
from orderflow.domain.identity import PrincipalKind
from orderflow.entrypoints.http.identity import current_principal
from orderflow.entrypoints.http.problems import FieldError, problem

EXTENSION = "orderflow.limiter"
_KEY = "orderflow_rate_key"
PLACING = frozenset({"place_order", "place_short_order"})
UNLIMITED = frozenset({"health"})
# A Redis that does not answer must not hold requests: the limiter falls
# back to memory after one short wait.
_REDIS_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}


def client_key() -> str:
    """The request's bucket: its API key or customer, else its address
    (worked out once per request: every limit asks)."""
    key: str | None = g.get(_KEY)
    if key is None:
        key = _bucket()
        setattr(g, _KEY, key)
    return key


def _bucket() -> str:
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


def _is_api_key() -> bool:
    return client_key().startswith("key:")


def register(app: Flask, settings: Settings) -> Limiter:
    """Rate-limit every route of `app` as `settings` say."""

    def general_limit() -> str:
        return settings.rate_limit_key if _is_api_key() else settings.rate_limit

    def placing_limit() -> str:
        # No limit at all (not even parsed) for every other request.
        placing = request.endpoint in PLACING and not _is_api_key()
        return settings.rate_limit_orders if placing else ""

    redis = settings.limits_storage_url != "memory://"
    limiter = Limiter(
        key_func=client_key,
        application_limits=[
            ApplicationLimit(limit_provider=general_limit),
            ApplicationLimit(limit_provider=placing_limit, scope="orders"),
        ],
        storage_uri=settings.limits_storage_url,
        storage_options=_REDIS_OPTIONS if redis else {},
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
        # The fallback is taken by the first request that finds Redis gone;
        # requests already in flight then fail on Redis too. Those are let
        # through unlimited (and logged) rather than answered 500.
        swallow_errors=True,
        key_prefix="orderflow",
    )
    limiter.request_filter(lambda: request.endpoint in UNLIMITED)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter


def too_many_requests(exc: RateLimitExceeded) -> Response:
    limiter = cast(Limiter, current_app.extensions[EXTENSION])
    breached = limiter.current_limit
    reset_at = breached.reset_at if breached is not None else time.time() + 1
    retry_after = max(1, math.ceil(reset_at - time.time()))
    return problem(
        429,
        "too-many-requests",
        "Too many requests",
        f"rate limit exceeded; retry after {retry_after} s",
        [FieldError("client", f"exceeded {exc.limit.limit}")],
        headers={"Retry-After": str(retry_after)},
    )
