from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from orderflow.ports.outbox import OutboxMessage

#: The outbox's pseudo-topic of notifications: the relay records those rows
#: in the ledger instead of publishing them.
NOTIFICATIONS_TOPIC = "notifications"
NOTIFICATION_TYPE = "Notification"


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to a customer about one order reaching one status. The pair
    (order_id, status) identifies it: a notifier may use it to deduplicate."""

    order_id: str
    status: str
    recipient: str
    subject: str
    body: str
    # The trace context of the processing that staged it (empty when
    # tracing is off), so its send joins the order's trace.
    trace_headers: Mapping[str, str] = field(default_factory=dict)


class Notifier(ABC):
    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver the notification. Raises NotificationFailed on a transient
        failure (sent again later), NotificationThrottled when it must not go
        out at all (given up at once)."""


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a dispatcher: the send is under way
    SENT = "sent"
    GIVEN_UP = "given_up"  # every attempt failed
    UNKNOWN = "unknown"  # a dispatcher died mid-send: never sent again automatically


_SETTLED = (DeliveryState.SENT, DeliveryState.PENDING, DeliveryState.GIVEN_UP)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one claimed send came to, for NotificationLedger.settle: its
    record goes from sending to `state`."""

    notification_id: str
    state: DeliveryState  # SENT, PENDING (to be tried again) or GIVEN_UP
    at: datetime | None = None  # SENT: when it went out; PENDING: when it is due again
    error: str | None = None  # PENDING and GIVEN_UP: why the send failed

    def __post_init__(self) -> None:
        if self.state not in _SETTLED:
            raise ValueError(f"not an outcome of a send: {self.state}")
        if self.at is None and self.state is not DeliveryState.GIVEN_UP:
            raise ValueError(f"a {self.state} outcome needs its time")

    @classmethod
    def sent(cls, notification_id: str, *, at: datetime) -> Outcome:
        return cls(notification_id, DeliveryState.SENT, at=at)

    @classmethod
    def retry(cls, notification_id: str, *, at: datetime, error: str) -> Outcome:
        return cls(notification_id, DeliveryState.PENDING, at=at, error=error)

    @classmethod
    def given_up(cls, notification_id: str, *, error: str) -> Outcome:
        return cls(notification_id, DeliveryState.GIVEN_UP, error=error)


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """The delivery state of one notification, stored once per id."""

    notification_id: str
    notification: Notification
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    # The token of the claim that last took it (NotificationLedger.claim_due),
    # None while it was never claimed or after its claim was released.
    claimed_by: str | None = None


def notification_id(notification: Notification) -> str:
    """The notification's id in the ledger (and as an outbox message): a pure
    function of its order and status, so recording it twice stores it once."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notification.order_id}/{notification.status}"))


def notification_message(notification: Notification, *, now: datetime) -> OutboxMessage:
    """The notification as an outbox row on NOTIFICATIONS_TOPIC."""
    return OutboxMessage(
        message_id=notification_id(notification),
        topic=NOTIFICATIONS_TOPIC,
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
        headers=notification.trace_headers,
    )


def notification_of(message: OutboxMessage) -> Notification:
    """The notification an outbox row of NOTIFICATIONS_TOPIC carries."""
    payload = message.payload
    return Notification(
        order_id=str(payload["order_id"]),
        status=str(payload["status"]),
        recipient=str(payload["recipient"]),
        subject=str(payload["subject"]),
        body=str(payload["body"]),
        trace_headers=message.headers,
    )


class NotificationRecorder(ABC):
    """The notification ledger seen from inside a unit of work
    (`UnitOfWork.notifications`): what it records is part of that unit of
    work's transaction, so a notification exists exactly when the status
    change it announces was committed, and a crash before the commit leaves
    neither."""

    @abstractmethod
    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> None:
        """Stage each (id, notification) not stored yet as pending, due at
        `now`, as NotificationLedger.record does: an id already stored (or
        named twice: the first counts) is left exactly as it is, so staging
        the same notifications again, in this or a later unit of work, adds
        nothing."""


class NotificationLedger(ABC):
    """One record per notification id, the gate that makes each customer
    notification go out at most once. Every method is atomic on its own
    (its own transaction), so a dispatcher's claim is durable before it
    sends (docs/OBSERVABILITY.md, "Notifications")."""

    @abstractmethod
    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> int:
        """Store each (id, notification) not stored yet as pending, due now,
        in one transaction. An id already stored (or named twice: the first
        counts) is left exactly as it is. Returns how many were new."""

    @abstractmethod
    def claim_due(self, *, now: datetime, limit: int, token: str) -> list[NotificationRecord]:
        """Up to `limit` pending records due at `now`, oldest due first, moved
        to sending with one more attempt and `claimed_by` = `token`, so no
        other dispatcher claims them. The caller makes the token (unique per
        claim: a uuid4) before the call, so it still knows it when the answer
        is lost: release_claim(token) then gives back what the claim took."""

    @abstractmethod
    def release_claim(self, token: str) -> list[str]:
        """Records still sending under `token` -> pending again, due as they
        were, the claim's attempt not counted (no send was tried), claimed_by
        and claimed_at cleared; in one transaction (MongoDB: each record
        atomic on its own). For a claim whose answer never reached its
        dispatcher, which therefore sent none of them. Records claimed under
        another token, settled, or abandoned as unknown are left as they are,
        so releasing again changes nothing. Returns the released ids, sorted."""

    @abstractmethod
    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Write each outcome on its record: sending -> sent (at `at`), ->
        pending due again at `at` with the error, or -> given_up with the
        error. All of them in one transaction (MongoDB: one bulk write, each
        outcome atomic on its own). A record that is no longer `sending`
        (abandoned as unknown meanwhile, or settled already by a call whose
        acknowledgement was lost) is left as it is, so writing the same
        outcomes again changes nothing."""

    def mark_sent(self, notification_id: str, *, at: datetime) -> None:
        """sending -> sent."""
        self.settle([Outcome.sent(notification_id, at=at)])

    def retry_at(self, notification_id: str, *, at: datetime, error: str) -> None:
        """sending -> pending, due again at `at` (a send that failed for sure)."""
        self.settle([Outcome.retry(notification_id, at=at, error=error)])

    def give_up(self, notification_id: str, *, error: str) -> None:
        """sending -> given_up."""
        self.settle([Outcome.given_up(notification_id, error=error)])

    @abstractmethod
    def abandon_claims(self, *, claimed_before: datetime) -> list[str]:
        """sending records claimed before `claimed_before` -> unknown (their
        dispatcher died between claiming and recording the outcome). Returns their ids."""

    @abstractmethod
    def get(self, notification_id: str) -> NotificationRecord | None:
        """The record, or None."""

    @abstractmethod
    def pending_count(self) -> int:
        """Records still to be sent (pending or sending)."""
