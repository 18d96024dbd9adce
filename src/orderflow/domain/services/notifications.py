"""Customer notifications are staged in the same transaction as the status
change they announce: straight into the notification ledger where the unit
of work can write it (SQL), else into the outbox, from which the relay
records them in the ledger. Either way a redelivered event that changes
nothing adds no notification, and a notification's id is a pure function of
its order and status, so recording it twice stores it once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from orderflow.domain.envelope import Topics
from orderflow.domain.model import Order, OrderStatus
from orderflow.ports.notifier import Notification
from orderflow.ports.outbox import OutboxMessage
from orderflow.ports.unit_of_work import UnitOfWork

NOTIFICATION_TYPE = "Notification"


def notification_for(order: Order) -> Notification:
    if order.status is OrderStatus.COMPLETED:
        subject = f"Your order {order.id} is confirmed"
        body = (
            f"Hello {order.customer.name},\n\nyour order {order.id} "
            f"(total {order.total}) has been confirmed and will ship to:\n"
            f"{order.customer.address}\n"
        )
    elif order.status is OrderStatus.CANCELLED:
        subject = f"Your order {order.id} is cancelled"
        body = (
            f"Hello {order.customer.name},\n\nyour order {order.id} has been cancelled "
            f"as you asked.\nYou have not been charged.\n"
        )
    else:
        subject = f"Your order {order.id} could not be completed"
        body = (
            f"Hello {order.customer.name},\n\nwe could not complete your order "
            f"{order.id}: {order.failure_reason}.\nYou have not been charged.\n"
        )
    return Notification(
        order_id=order.id,
        status=order.status.value,
        recipient=order.customer.email,
        subject=subject,
        body=body,
    )


def notification_id(notification: Notification) -> str:
    """The notification's id in the ledger (and as an outbox message)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notification.order_id}/{notification.status}"))


def stage_notifications(
    uow: UnitOfWork, notifications: Sequence[Notification], *, topics: Topics, now: datetime
) -> None:
    """Stage the notifications in `uow`, to be recorded in the ledger if and
    only if it commits: in the ledger itself where the unit of work reaches
    it (one insert that skips stored ids; no outbox row for the relay to
    read, mark and copy), else as outbox messages for the relay. Staging an
    id that was staged before never records it twice: the ledger skips it,
    or the outbox refuses it (DuplicateKey) while it still holds the row."""
    # An id named twice counts once (the first), on either path.
    unique: dict[str, Notification] = {}
    for notification in notifications:
        unique.setdefault(notification_id(notification), notification)
    if not unique:
        return
    if uow.notifications is not None:
        uow.notifications.record(list(unique.items()), now=now)
    else:
        uow.outbox.add([to_outbox_message(n, topics=topics, now=now) for n in unique.values()])


def to_outbox_message(
    notification: Notification, *, topics: Topics, now: datetime
) -> OutboxMessage:
    return OutboxMessage(
        message_id=notification_id(notification),
        topic=topics.notifications,
        key=notification.order_id,
        type_name=NOTIFICATION_TYPE,
        payload={
            "order_id": notification.order_id,
            "status": notification.status,
            "recipient": notification.recipient,
            "subject": notification.subject,
            "body": notification.body,
        },
        created_at=now,
    )


def from_outbox_message(message: OutboxMessage) -> Notification:
    payload = message.payload
    return Notification(
        order_id=str(payload["order_id"]),
        status=str(payload["status"]),
        recipient=str(payload["recipient"]),
        subject=str(payload["subject"]),
        body=str(payload["body"]),
    )
