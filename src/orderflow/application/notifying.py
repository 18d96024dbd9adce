"""Sending customer notifications: at most once each, retried with backoff
when a send fails for sure, never in the way of an order.

The relay moves a notification from the outbox into the NotificationLedger
(idempotent by id) and is done with it: no network call in the relay, so a
slow or dead mail server never holds back the broker. The dispatcher then
claims a batch of due records (a durable claim, committed before the send),
sends them, and records their outcomes, the batch's in one write:

- sent: done;
- NotificationFailed (the server refused it or could not be reached): due
  again after an exponential backoff, until `max_attempts`, then given up;
- NotificationThrottled (the recipient's rate limit): given up at once,
  counted as `throttled`, never retried;
- no outcome (the dispatcher died between claim and record, which for a
  batch means every send since its last write): after
  `claim_lease` the record becomes `unknown` and is not sent again, because
  the mail may well have gone out. At most once, by choice: a duplicate
  order confirmation is worse than one an operator re-sends by hand.

Each claim carries a token of its own (a uuid4 written on the records it
takes). When a claim's answer is lost (the database cut after the commit,
before the reply), the dispatcher keeps that token and, before its next
claim, releases it once the database answers: whatever the claim took goes
back to pending, to be claimed and sent again. Nothing of it was sent (the
dispatcher never saw the records), so this keeps at most once; without the
token it could not tell its own lost claim from another dispatcher's live
one, and the batch turned `unknown` after the lease."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from orderflow.domain.errors import (
    InfrastructureError,
    NotificationFailed,
    NotificationThrottled,
)
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import NOTIFICATIONS, Metrics
from orderflow.ports.notifier import (
    NotificationLedger,
    NotificationRecord,
    Notifier,
    Outcome,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 10
    initial_backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(minutes=10)
    claim_lease: timedelta = timedelta(minutes=5)
    batch_size: int = 200
    # The longest a send's outcome waits to be written with the rest of its
    # batch. The batch's outcomes go in one write; with a slow notifier
    # (SMTP) this bounds how many sends a crash leaves unrecorded (they turn
    # `unknown`, never sent twice).
    record_within: timedelta = timedelta(milliseconds=500)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: 2 s, 4 s, 8 s, ..."""
        wait: timedelta = self.initial_backoff * 2 ** max(attempts - 1, 0)
        return min(self.max_backoff, wait)


class NotificationDispatcher:
    def __init__(
        self,
        *,
        ledger: NotificationLedger,
        notifier: Notifier,
        clock: Clock,
        metrics: Metrics,
        policy: DeliveryPolicy,
    ) -> None:
        self._ledger = ledger
        self._notifier = notifier
        self._clock = clock
        self._metrics = metrics
        self._policy = policy
        # What a database outage interrupted, kept until the ledger answers
        # again: outcomes of sends not recorded yet, and claimed records not
        # attempted yet. They are claimed by this dispatcher, so no other one
        # sends them; dropped, they would stay `sending`, turn `unknown`
        # after the lease and never go out (the fault suite's database
        # outage lost a batch's notifications that way).
        self._unrecorded: list[Outcome] = []
        self._unattempted: list[NotificationRecord] = []
        # The token of a claim whose answer was lost (it may have committed),
        # released before the next claim; kept until a release succeeds.
        self._lost_claim: str | None = None

    @property
    def batch_size(self) -> int:
        """The most records one dispatch_once claims."""
        return self._policy.batch_size

    def dispatch_once(self) -> int:
        """Send what is due; returns how many records it settled. Raises
        InfrastructureError while the ledger cannot be written; the next call
        goes on where this one stopped."""
        self._record_outcomes()
        claimed, self._unattempted = self._unattempted, []
        if not claimed:
            self._release_lost_claim()
            now = self._clock.now()
            for notification_id in self._ledger.abandon_claims(
                claimed_before=now - self._policy.claim_lease
            ):
                self._metrics.increment(NOTIFICATIONS, result="unknown")
                log.error(
                    "notification %s: its dispatcher stopped mid-send; not sending it again",
                    notification_id,
                )
            # Made here, not by the ledger: a claim whose answer is lost can
            # only be released by a token its dispatcher already holds.
            token = str(uuid.uuid4())
            try:
                claimed = self._ledger.claim_due(
                    now=now, limit=self._policy.batch_size, token=token
                )
            except Exception:
                # Committed or not, we cannot know: released before the next
                # claim. Any error, not only an outage: none of its records
                # reached us, so none was sent and releasing them is safe.
                self._lost_claim = token
                raise
        # The outcomes are written together (one transaction) at the end of
        # the batch, or sooner when the oldest has waited `record_within`.
        record_by = time.monotonic() + self._policy.record_within.total_seconds()
        for index, record in enumerate(claimed):
            self._unrecorded.append(self._attempt(record))
            if index + 1 < len(claimed) and time.monotonic() < record_by:
                continue
            try:
                self._record_outcomes()
            except InfrastructureError:
                self._unattempted = list(claimed[index + 1 :])
                raise
            record_by = time.monotonic() + self._policy.record_within.total_seconds()
        return len(claimed)

    def _release_lost_claim(self) -> None:
        """Give back what a claim whose answer was lost took; raises (and
        keeps the token for the next call) while the ledger cannot be
        written. Releasing is idempotent, so a release whose own answer was
        lost is simply made again."""
        if self._lost_claim is None:
            return
        released = self._ledger.release_claim(self._lost_claim)
        if released:
            log.warning(
                "notifications: a claim's answer was lost (claim %s); "
                "%d notifications it took are due again",
                self._lost_claim,
                len(released),
            )
        self._lost_claim = None

    def _record_outcomes(self) -> None:
        if not self._unrecorded:
            return
        outcomes, self._unrecorded = self._unrecorded, []
        try:
            self._ledger.settle(outcomes)
        except InfrastructureError:
            # Written again on the next call. An outcome only settles a
            # record still `sending`, so writing one again (its first write
            # landed, the acknowledgement was lost) changes nothing.
            self._unrecorded = outcomes
            raise

    def _attempt(self, record: NotificationRecord) -> Outcome:
        """Send one claimed record; returns its outcome, to be written."""
        notification = record.notification
        context = {"order_id": notification.order_id, "status": notification.status}
        try:
            self._notifier.send(notification)
        except NotificationThrottled as exc:
            self._metrics.increment(NOTIFICATIONS, result="throttled")
            log.warning(
                "notification for order %s not sent: %s", notification.order_id, exc, extra=context
            )
            return Outcome.given_up(record.notification_id, error=str(exc))
        except NotificationFailed as exc:
            if record.attempts >= self._policy.max_attempts:
                self._metrics.increment(NOTIFICATIONS, result="given_up")
                log.error(
                    "notification for order %s given up after %d attempts: %s",
                    notification.order_id,
                    record.attempts,
                    exc,
                    extra=context,
                )
                return Outcome.given_up(record.notification_id, error=str(exc))
            wait = self._policy.backoff(record.attempts)
            self._metrics.increment(NOTIFICATIONS, result="retry")
            log.warning(
                "notification for order %s failed (attempt %d), retrying in %s: %s",
                notification.order_id,
                record.attempts,
                wait,
                exc,
                extra=context,
            )
            return Outcome.retry(
                record.notification_id, at=self._clock.now() + wait, error=str(exc)
            )
        self._metrics.increment(NOTIFICATIONS, result="sent")
        # Debug: a line per notification at info filled the relay's log
        # (the ledger's sent_at and the `sent` counter already record it).
        log.debug("notification for order %s sent", notification.order_id, extra=context)
        return Outcome.sent(record.notification_id, at=self._clock.now())
