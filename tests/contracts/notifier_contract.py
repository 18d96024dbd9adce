"""The contract every Notifier keeps. Subclasses provide `notifier`,
`received` (what the far end got, as (order_id, status) pairs, in order) and
`unreachable` (the same kind of notifier pointed at nothing, or None for an
in-process notifier that cannot be unreachable)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from orderflow.domain.errors import NotificationFailed
from orderflow.ports.notifier import Notification, Notifier


def a_notification(status: str = "completed") -> Notification:
    order_id = str(uuid.uuid4())
    return Notification(order_id, status, "ada@example.com", f"Order {order_id}", "Hello Ada ✓")


class NotifierContract:
    @pytest.fixture
    def notifier(self) -> Notifier:
        raise NotImplementedError

    @pytest.fixture
    def received(self) -> Callable[[], list[tuple[str, str]]]:
        raise NotImplementedError

    @pytest.fixture
    def unreachable(self) -> Notifier | None:
        raise NotImplementedError

    def test_a_sent_notification_reaches_the_receiver_once(
        self, notifier: Notifier, received: Callable[[], list[tuple[str, str]]]
    ) -> None:
        note = a_notification()
        notifier.send(note)
        assert received() == [(note.order_id, "completed")]

    def test_notifications_arrive_in_the_order_they_were_sent(
        self, notifier: Notifier, received: Callable[[], list[tuple[str, str]]]
    ) -> None:
        notes = [a_notification(status) for status in ("completed", "failed", "cancelled")]
        for note in notes:
            notifier.send(note)
        assert received() == [(n.order_id, n.status) for n in notes]

    def test_an_unreachable_receiver_is_a_notification_failure(
        self, unreachable: Notifier | None
    ) -> None:
        if unreachable is None:
            return  # in-process: nothing to reach
        with pytest.raises(NotificationFailed):
            unreachable.send(a_notification())
