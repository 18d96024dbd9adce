"""Customer notifications are staged in the same transaction as the status
change they announce (UnitOfWork.notifications), so a redelivered event that
changes nothing adds no notification, and a notification's id is a pure
function of its order and status, so recording it twice stores it once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orderflow.domain.model import Order, OrderStatus
from orderflow.ports.notifier import Notification, notification_id
from orderflow.ports.unit_of_work import UnitOfWork


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
            f"as you asked.\nYou will not be charged for it.\n"
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


def stage_notifications(
    uow: UnitOfWork, notifications: Sequence[Notification], *, now: datetime
) -> None:
    """Stage the notifications in `uow`, to be recorded in the ledger if and
    only if it commits. An id named twice counts once (the first)."""
    unique: dict[str, Notification] = {}
    for notification in notifications:
        unique.setdefault(notification_id(notification), notification)
    if unique:
        uow.notifications.record(list(unique.items()), now=now)
