"""The consumer worker: orders topic -> OrderProcessor -> status events.

Offsets are committed only after the effects of a delivery are durable, and
together with what the batch emits, in one broker transaction
(MessageConsumer.commit_with): the status event of each order the batch
finished (OrderCompleted / OrderFailed, on the events topic) and the
dead-letter record of each poison message (on the DLQ topic). Either the
offsets and those messages all count or none do; if none do, the deliveries
come again, the database effects are found done (idempotent), and the same
events (same ids) are emitted again.

Transient errors are retried with exponential backoff and jitter (tenacity);
a database outage that outlasts the retries pauses the worker (rewind, wait,
try again) instead of dead-lettering, because the message is fine and the
database will be back. A broker outage pauses it too."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from orderflow.application.messages import Topics, to_outbox
from orderflow.application.processing import OrderProcessor, status_events
from orderflow.domain.errors import (
    BrokerUnavailable,
    DomainError,
    InfrastructureError,
    PermanentMessageError,
)
from orderflow.domain.events import Event
from orderflow.domain.model import Order
from orderflow.entrypoints.dead_letters import dead_letter
from orderflow.ports.clock import Clock
from orderflow.ports.codec import MessageCodec
from orderflow.ports.messaging import Delivery, MessageConsumer
from orderflow.ports.metrics import Metrics
from orderflow.ports.outbox import OutboxMessage

log = logging.getLogger(__name__)

# Errors that say "this message can never succeed": dead-letter at once.
PERMANENT = (PermanentMessageError, DomainError, KeyError, TypeError, ValueError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    outage_pause_s: float = 1.0


class Worker:
    def __init__(
        self,
        *,
        consumer: MessageConsumer,
        processor: OrderProcessor,
        codec: MessageCodec,
        clock: Clock,
        metrics: Metrics,
        topics: Topics,
        retry: RetryPolicy,
        batch_size: int = 100,
        poll_timeout_s: float = 0.5,
        max_batch_s: float = 4.0,
    ) -> None:
        self._consumer = consumer
        self._processor = processor
        self._codec = codec
        self._clock = clock
        self._metrics = metrics
        self._topics = topics
        self._retry = retry
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._max_batch_s = max_batch_s
        # Recent seconds per order, for sizing chunks to the time budget; the
        # first chunk assumes a millisecond.
        self._per_order_s = 0.001
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit, and return."""
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except InfrastructureError as exc:  # e.g. poll with the broker gone
                    self._pause_for_broker(exc)
        finally:
            self.close()

    def close(self) -> None:
        """Leave the consumer group (uncommitted deliveries go to other members)."""
        self._consumer.close()

    def run_once(self) -> int:
        """Poll one batch and handle it; returns how many deliveries were
        settled and committed.

        The deliveries are handled in chunks, each chunk's orders in one
        database transaction (OrderProcessor.handle_many); a chunk that fails
        for anything but an outage is handled again one delivery at a time,
        so that one bad order neither fails nor doubles the others. Settled
        deliveries are always a prefix of the batch: what is not settled is
        sought back and comes again."""
        deliveries = self._consumer.poll(
            max_messages=self._batch_size, timeout_s=self._poll_timeout_s
        )
        settled: list[Delivery] = []
        # By message id: a delivery duplicated within the batch emits its
        # status event once.
        outgoing: dict[str, OutboxMessage] = {}
        started = time.monotonic()
        try:
            while len(settled) < len(deliveries):
                elapsed = time.monotonic() - started
                if settled and elapsed > self._max_batch_s:
                    # A slow store must not hold a batch past the broker's
                    # poll interval (the member would be evicted and its
                    # commit refused): commit what is done, the rest comes again.
                    self._consumer.seek_back(deliveries[len(settled) :])
                    break
                size = self._chunk_size(self._max_batch_s - elapsed)
                chunk = deliveries[len(settled) : len(settled) + size]
                self._handle_chunk(chunk, settled, outgoing)
        except InfrastructureError as exc:
            log.warning("dependency unavailable, pausing consumption: %s", exc)
            self._metrics.increment("consumer_pauses_total")
            committed = self._commit(settled, outgoing)
            self._consumer.seek_back(deliveries[len(settled) :] if committed else deliveries)
            self._stop.wait(self._retry.outage_pause_s)
            return len(settled) if committed else 0
        if not self._commit(settled, outgoing):
            self._consumer.seek_back(settled)
            self._stop.wait(self._retry.outage_pause_s)
            return 0
        return len(settled)

    def _chunk_size(self, budget_s: float) -> int:
        """As many deliveries as fit the time left (by the recent time per
        order, never under the simulated processing delay), at least one."""
        per_order = max(self._per_order_s, self._processor.processing_delay_s)
        fits = int(budget_s / per_order) if per_order > 0 else self._batch_size
        return max(1, min(fits, self._processor.batch_limit))

    def _handle_chunk(
        self,
        chunk: Sequence[Delivery],
        settled: list[Delivery],
        outgoing: dict[str, OutboxMessage],
    ) -> None:
        """Handle `chunk`, appending each delivery to `settled` (and what it
        emits to `outgoing`) in order. Raises InfrastructureError on an outage
        that outlasts the retries; the deliveries settled so far stay so."""
        started = time.monotonic()
        emitted: list[list[OutboxMessage] | None] = [None] * len(chunk)
        events: list[tuple[int, Event]] = []
        for index, delivery in enumerate(chunk):
            try:
                events.append((index, self._codec.decode(delivery.value)))
            except PERMANENT as exc:
                emitted[index] = [self._dead_letter(delivery, exc, 1)]
        if events:
            try:
                orders = self._handle_many([event for _, event in events])
            except InfrastructureError:
                raise
            except Exception as exc:
                # Nothing of the chunk was committed: each delivery is
                # handled alone below, and only the culprit is dead-lettered.
                log.warning("a batch of %d orders failed, one by one now: %r", len(events), exc)
                self._metrics.increment("consumer_batch_fallbacks_total")
            else:
                for (index, _), order in zip(events, orders, strict=True):
                    emitted[index] = self._status_messages(order)
        for index, delivery in enumerate(chunk):
            messages = emitted[index]
            if messages is None:
                messages = self._handle(delivery)
            settled.append(delivery)
            for message in messages:
                outgoing.setdefault(message.message_id, message)
        per_order = (time.monotonic() - started) / len(chunk)
        self._per_order_s = 0.7 * self._per_order_s + 0.3 * per_order

    def _handle_many(self, events: Sequence[Event]) -> list[Order | None]:
        """processor.handle_many with the transient-error retries; the last
        InfrastructureError when they run out (the caller pauses)."""
        for attempt in self._retrying(reraise=True):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self._metrics.increment("consumer_retries_total")
                return self._processor.handle_many(events)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _retrying(self, *, reraise: bool) -> Retrying:
        """Transient (infrastructure) errors retried with exponential backoff
        and jitter, `RetryPolicy.attempts` times in all."""
        return Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential_jitter(
                multiplier=self._retry.initial_backoff_s, max=self._retry.max_backoff_s
            ),
            retry=retry_if_exception_type(InfrastructureError),
            reraise=reraise,
        )

    def _status_messages(self, order: Order | None) -> list[OutboxMessage]:
        # A redelivery of a finished order emits the same events again (same
        # ids): at-least-once on the events topic, deduplicable by event id.
        return [] if order is None else to_outbox(status_events(order), topics=self._topics)

    def _commit(self, settled: Sequence[Delivery], outgoing: dict[str, OutboxMessage]) -> bool:
        """Commit the settled deliveries with what they emit; False if the
        broker took neither (the caller seeks back so they come again)."""
        if not settled:
            return True
        messages = list(outgoing.values())
        try:
            self._consumer.commit_with(messages=messages, deliveries=settled)
        except BrokerUnavailable as exc:
            log.warning(
                "could not commit %d deliveries with %d messages; they will come again: %s",
                len(settled),
                len(messages),
                exc,
            )
            self._metrics.increment("consumer_commit_failures_total")
            return False
        letters = sum(1 for m in messages if m.topic == self._topics.dlq)
        if letters:
            self._metrics.increment("dlq_messages_total", letters)
        return True

    def _pause_for_broker(self, exc: InfrastructureError) -> None:
        log.warning("broker unavailable, pausing consumption: %s", exc)
        self._metrics.increment("consumer_pauses_total")
        self._stop.wait(self._retry.outage_pause_s)

    def _handle(self, delivery: Delivery) -> list[OutboxMessage]:
        """Process one delivery; the messages it emits: the status event of
        the order it finished (or found finished), or its dead-letter record."""
        attempts = 0
        order: Order | None = None
        try:
            for attempt in self._retrying(reraise=False):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if attempts > 1:
                        self._metrics.increment("consumer_retries_total")
                    (order,) = self._processor.handle_many([self._codec.decode(delivery.value)])
        except PERMANENT as exc:
            return [self._dead_letter(delivery, exc, attempts)]
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            # Transient errors that outlast the retries (a database outage, a
            # lock held too long) pause the worker: the message is fine, so it
            # must not be dead-lettered.
            if isinstance(cause, InfrastructureError):
                raise cause from exc
            return [self._dead_letter(delivery, cause or exc, attempts)]
        except Exception as exc:  # an unforeseen bug must not wedge the partition
            log.exception(
                "unexpected error on %s@%s",
                delivery.topic,
                delivery.offset,
                extra={"order_id": delivery.key},
            )
            return [self._dead_letter(delivery, exc, attempts)]
        return self._status_messages(order)

    def _dead_letter(
        self, delivery: Delivery, error: BaseException, attempts: int
    ) -> OutboxMessage:
        log.error(
            "dead-lettering %s/%s@%s: %s",
            delivery.topic,
            delivery.partition,
            delivery.offset,
            error,
            extra={"order_id": delivery.key},  # the key of an orders-topic message
        )
        # Published with the batch's offsets: if that fails, the delivery
        # comes back and is dead-lettered again; nothing is lost.
        return dead_letter(
            delivery,
            error=error,
            attempts=attempts,
            topic=self._topics.dlq,
            now=self._clock.now(),
        )
