"""A Notifier decorator: at most ORDERFLOW_NOTIFY_RATE_LIMIT notifications
to any one address (a moving window, the `limits` library), so that
orderflow cannot be used to flood someone's inbox by placing orders in
their name.

Past the limit, `send` raises NotificationThrottled: the dispatcher gives
that notification up at once and counts it (`orderflow_notifications_total
{result="throttled"}`); it is never retried and holds up nothing. Only
notifications that went out count. The window lives where the rate limits
of the API do: the cache's Redis (shared by every dispatcher), else this
process's memory. Keys are a digest of the address, never the address. If
Redis does not answer, the notification goes out unthrottled (logged): a
customer's confirmation matters more than the limit for that moment."""

from __future__ import annotations

import hashlib
import logging

from limits import parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

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
        storage = storage_from_string(storage_url, wrap_exceptions=True, **options)
        self._window = MovingWindowRateLimiter(storage)

    def send(self, notification: Notification) -> None:
        digest = hashlib.sha256(notification.recipient.strip().lower().encode()).hexdigest()
        key = "orderflow-notify:" + digest
        if not self._within_limit(key, notification.order_id):
            raise NotificationThrottled("the recipient's notification limit is reached")
        self._inner.send(notification)
        try:
            for limit in self._limits:
                self._window.hit(limit, key)
        except StorageError as exc:
            log.warning("notification for order %s not counted: %r", notification.order_id, exc)

    def _within_limit(self, key: str, order_id: str) -> bool:
        try:
            return all(self._window.test(limit, key) for limit in self._limits)
        except StorageError as exc:  # fail open, see above
            log.warning("notification limit unavailable for order %s: %r", order_id, exc)
            return True
