"""The `log://` notifier: the default, so a demo runs without a mail server.
It logs that a notification went out, with the order id and status only:
never the recipient, the customer's name or the text (docs/SECURITY.md,
Privacy); `memory://` keeps whole notifications for tests."""

from __future__ import annotations

import logging

from orderflow.ports.notifier import Notification, Notifier

log = logging.getLogger("orderflow.notifications")


class LoggingNotifier(Notifier):
    def send(self, notification: Notification) -> None:
        log.info(
            "notify order %s (%s) via log://",
            notification.order_id,
            notification.status,
            extra={"order_id": notification.order_id, "status": notification.status},
        )
