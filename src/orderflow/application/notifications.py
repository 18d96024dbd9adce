"""Customer notifications are staged in the same transaction as the status
change they announce (UnitOfWork.notifications), so a redelivered event that
changes nothing adds no notification, and a notification's id is a pure
function of its order and status, so recording it twice stores it once.

The text is plain text (text/plain mail, a JSON string to webhooks), never
HTML. What the customer typed (name, address) goes in as bounded single
lines: no control characters (no line breaks to forge mail headers or
paragraphs), no invisible or bidirectional formatting characters, cut
after a few hundred characters (docs/SECURITY.md, Privacy)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from orderflow.domain.model import Order, OrderStatus
from orderflow.ports.notifier import Notification, notification_id
from orderflow.ports.unit_of_work import UnitOfWork

MAX_NAME_CHARS = 80
MAX_ADDRESS_CHARS = 300
# Cc (control, line breaks included), and the Cf characters that hide or
# reorder text: zero-width, bidirectional embeddings and isolates, BOM.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def one_line(value: str, limit: int) -> str:
    """A customer-supplied field as one line of at most `limit` characters:
    unsafe characters become spaces, runs of whitespace one space, and a
    longer text is cut with an ellipsis."""
    text = " ".join(_UNSAFE.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def notification_for(order: Order) -> Notification:
    name = one_line(order.customer.name, MAX_NAME_CHARS)
    address = one_line(order.customer.address, MAX_ADDRESS_CHARS)
    if order.status is OrderStatus.COMPLETED:
        subject = f"Your order {order.id} is confirmed"
        body = (
            f"Hello {name},\n\nyour order {order.id} "
            f"(total {order.total}) has been confirmed and will ship to:\n"
            f"{address}\n"
        )
    elif order.status is OrderStatus.CANCELLED:
        subject = f"Your order {order.id} is cancelled"
        body = (
            f"Hello {name},\n\nyour order {order.id} has been cancelled "
            f"as you asked.\nYou will not be charged for it.\n"
        )
    else:
        subject = f"Your order {order.id} could not be completed"
        body = (
            f"Hello {name},\n\nwe could not complete your order "
            f"{order.id}: {order.failure_reason}.\nYou have not been charged.\n"
        )
    return Notification(
        order_id=order.id,
        status=order.status.value,
        recipient=_UNSAFE.sub("", order.customer.email),
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
