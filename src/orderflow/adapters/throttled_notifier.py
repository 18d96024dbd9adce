"""A Notifier decorator: at most ORDERFLOW_NOTIFY_RATE_LIMIT notifications
to any one address (a fixed window per address, the `limits` library), so
that orderflow cannot be used to flood someone's inbox by placing orders in
their name.

Past the limit, `send` raises NotificationThrottled: the dispatcher gives
that notification up at once and counts it (`orderflow_notifications_total
{result="throttled"}`); it is never retried and holds up nothing. Only
notifications that went out count: a send is counted before it is made (one
round trip, an atomic increment) and the count is given back when the send
fails. A window starts at an address's first notification, so across a
window's end an address may get up to twice the limit, the price of one
round trip instead of a moving window's two (docs/DECISIONS.md). The
window lives where the rate limits of the API do: the cache's Redis (shared
by every dispatcher), else this process's memory. Keys are a digest of the
address, never the address. If Redis does not answer, the notification goes
out unthrottled (logged): a customer's confirmation matters more than the
limit for that moment."""

from __future__ import annotations

import hashlib
import logging

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from orderflow.domain.errors import NotificationThrottled
from orderflow.ports.notifier import Notification, Notifier

log = logging.getLogger(__name__)

_REDIS_TIMEOUT_S = 0.25


class ThrottledNotifier(Notifier):
    def __init__(self, inner: Notifier, *, limit: str, storage_url: str) -> None:
        self._inner = inner
        self._limits = parse_many(limit)
        options: dict[str, float] = (
            {}
            if storage_url.startswith("memory:")
            else {"socket_connect_timeout": _REDIS_TIMEOUT_S, "socket_timeout": _REDIS_TIMEOUT_S}
        )
        self._storage = storage_from_string(storage_url, wrap_exceptions=True, **options)
        self._window = FixedWindowRateLimiter(self._storage)

    def send(self, notification: Notification) -> None:
        digest = hashlib.sha256(notification.recipient.strip().lower().encode()).hexdigest()
        key = "orderflow-notify:" + digest
        counted = self._count(key, notification.order_id)
        try:
            self._inner.send(notification)
        except BaseException:
            self._give_back(counted, key, notification.order_id)
            raise

    def _count(self, key: str, order_id: str) -> list[RateLimitItem]:
        """Count the send in every window; NotificationThrottled (with the
        counts given back) if one is past its limit. The windows counted."""
        counted: list[RateLimitItem] = []
        try:
            for limit in self._limits:
                counted.append(limit)
                if not self._window.hit(limit, key):
                    self._give_back(counted, key, order_id)
                    raise NotificationThrottled("the recipient's notification limit is reached")
        except StorageError as exc:  # fail open, see above
            log.warning("notification limit unavailable for order %s: %r", order_id, exc)
            return []
        return counted

    def _give_back(self, counted: list[RateLimitItem], key: str, order_id: str) -> None:
        try:
            for limit in counted:
                self._storage.incr(limit.key_for(key), limit.get_expiry(), amount=-1)
        except StorageError as exc:
            log.warning("notification for order %s stays counted: %r", order_id, exc)
