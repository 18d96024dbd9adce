"""Customer notifications travel through the outbox, in the same transaction
as the status change they announce: a redelivered event that changes nothing
adds no notification, and the relay retries a failed send."""

from __future__ import annotations

import uuid
from datetime import datetime

from orderflow.domain.envelope import Topics
from orderflow.domain.model import Order, OrderStatus
from orderflow.ports.notifier import Notification
from orderflow.ports.outbox import OutboxMessage

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


def to_outbox_message(
    notification: Notification, *, topics: Topics, now: datetime
) -> OutboxMessage:
    return OutboxMessage(
        message_id=str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{notification.order_id}/{notification.status}")
        ),
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
