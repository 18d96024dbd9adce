from __future__ import annotations

import threading

from orderflow.ports.notifier import Notification, Notifier


class RecordingNotifier(Notifier):
    """Keeps every notification it is asked to send, in order: the embedded
    mode's inbox and the tests' witness that each is sent exactly once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        with self._lock:
            self._sent.append(notification)

    @property
    def sent(self) -> list[Notification]:
        with self._lock:
            return list(self._sent)
