"""The per-recipient notification limit (adapters/throttled_notifier.py):
past it a notification is given up at once by the dispatcher, counted as
`throttled`, never retried, and the other recipients' notifications go on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.memory.notification_ledger import MemoryNotificationLedger
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.throttled_notifier import ThrottledNotifier
from orderflow.application.notifying import DeliveryPolicy, NotificationDispatcher
from orderflow.domain.errors import NotificationFailed, NotificationThrottled
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import NOTIFICATIONS
from orderflow.ports.notifier import DeliveryState, Notification, Notifier, notification_id

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def to(recipient: str) -> Notification:
    order_id = str(uuid.uuid4())
    return Notification(order_id, "completed", recipient, f"Order {order_id}", "Hello")


def throttled(inner: Notifier, limit: str = "2/hour") -> ThrottledNotifier:
    return ThrottledNotifier(inner, limit=limit, storage_url="memory://")


def test_past_the_limit_an_address_gets_nothing_more() -> None:
    inner = RecordingNotifier()
    notifier = throttled(inner)

    notifier.send(to("ada@example.com"))
    notifier.send(to("ADA@example.com"))  # the same mailbox
    with pytest.raises(NotificationThrottled):
        notifier.send(to("ada@example.com"))

    assert len(inner.sent) == 2


def test_each_address_has_its_own_window() -> None:
    inner = RecordingNotifier()
    notifier = throttled(inner, "1/hour")

    notifier.send(to("ada@example.com"))
    notifier.send(to("grace@example.com"))

    assert [n.recipient for n in inner.sent] == ["ada@example.com", "grace@example.com"]


class Failing(Notifier):
    def __init__(self) -> None:
        self.calls = 0

    def send(self, notification: Notification) -> None:
        self.calls += 1
        raise NotificationFailed("mail server down")


def test_only_notifications_that_went_out_count() -> None:
    failing = Failing()
    notifier = throttled(failing, "1/hour")

    for _ in range(3):
        with pytest.raises(NotificationFailed):
            notifier.send(to("ada@example.com"))

    assert failing.calls == 3  # never throttled: none went out


class FixedClock(Clock):
    def now(self) -> datetime:
        return NOW


def test_the_dispatcher_gives_a_throttled_notification_up_counts_it_and_goes_on() -> None:
    ledger, inner, metrics = MemoryNotificationLedger(), RecordingNotifier(), MemoryMetrics()
    flood = [to("victim@example.com") for _ in range(4)]
    other = to("grace@example.com")
    ledger.record([(notification_id(n), n) for n in [*flood, other]], now=NOW)
    dispatcher = NotificationDispatcher(
        ledger=ledger,
        notifier=throttled(inner),
        clock=FixedClock(),
        metrics=metrics,
        policy=DeliveryPolicy(),
    )

    assert dispatcher.dispatch_once() == 5
    assert dispatcher.dispatch_once() == 0  # nothing is due again: no retry

    records = [ledger.get(notification_id(n)) for n in flood]
    states = sorted(record.state for record in records if record)
    assert states == [DeliveryState.GIVEN_UP] * 2 + [DeliveryState.SENT] * 2
    assert other in inner.sent
    assert metrics.count(NOTIFICATIONS, result="throttled") == 2
    assert metrics.count(NOTIFICATIONS, result="sent") == 3
    assert ledger.pending_count() == 0
