"""The `log://` notifier: writes each notification to the log. The default,
so a demo shows what a customer would receive without an SMTP server."""

from __future__ import annotations

import logging

from orderflow.ports.notifier import Notification, Notifier

log = logging.getLogger("orderflow.notifications")


class LoggingNotifier(Notifier):
    def send(self, notification: Notification) -> None:
        log.info(
            "notify %s: %s",
            notification.recipient,
            notification.subject,
            extra={"order_id": notification.order_id, "status": notification.status},
        )
