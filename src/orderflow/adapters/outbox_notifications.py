"""Notifications staged through the outbox, for the units of work that
cannot write the notification ledger in their own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orderflow.ports.notifier import Notification, NotificationRecorder, notification_message
from orderflow.ports.outbox import Outbox


class OutboxNotificationRecorder(NotificationRecorder):
    """For a unit of work that cannot write the ledger in its own transaction
    (memory, MongoDB: the ledger is another store or collection): the
    notifications go into the outbox, atomically with the status change, and
    the relay records them in the ledger. A staged id that the outbox still
    holds is refused there (DuplicateKey), and the ledger skips one it has."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> None:
        self._outbox.add([notification_message(n, now=now) for _, n in items])
