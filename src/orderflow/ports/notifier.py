from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to a customer about one order reaching one status. The pair
    (order_id, status) identifies it: a notifier may use it to deduplicate."""

    order_id: str
    status: str
    recipient: str
    subject: str
    body: str


class Notifier(ABC):
    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver the notification. Raises NotificationFailed on a transient failure."""
