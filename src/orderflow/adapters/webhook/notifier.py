from __future__ import annotations

import json
import urllib.error
import urllib.request

from orderflow.domain.errors import NotificationFailed
from orderflow.ports.notifier import Notification, Notifier


class WebhookNotifier(Notifier):
    """POSTs the notification as JSON. `Idempotency-Key` carries the
    notification's identity so the receiver can drop a repeat."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout_s = timeout_s

    def send(self, notification: Notification) -> None:
        body = json.dumps(
            {
                "order_id": notification.order_id,
                "status": notification.status,
                "recipient": notification.recipient,
                "subject": notification.subject,
                "body": notification.body,
            }
        ).encode()
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": f"{notification.order_id}/{notification.status}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                if response.status >= 300:
                    raise NotificationFailed(f"webhook answered {response.status}")
        except (OSError, urllib.error.URLError) as exc:
            raise NotificationFailed(f"webhook {self._url}: {exc}") from exc
