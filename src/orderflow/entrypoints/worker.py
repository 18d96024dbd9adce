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
database will be back. A broker outage pauses it too.

Failure classes (docs/OPERATIONS.md):
- poison, dead-lettered at once: a message that can never succeed
  (undecodable, invalid against its schema, an unknown major version:
  PermanentMessageError from the codec), or an order a domain rule refuses
  (DomainError; a rule that fails an order, such as stock, just fails it);
- transient (InfrastructureError): retried, then the worker pauses and
  tries again; nothing is dead-lettered;
- anything else is a bug: retried with backoff, then the worker stops
  consuming that partition (MessageConsumer.pause), seeks it back so nothing
  is committed past the message, logs the order id and counts it
  (orderflow_worker_bugs_total, orderflow_partitions_paused). The other
  partitions keep flowing. A worker started again with a fix gets the same
  messages again. Nothing is dead-lettered because the code is wrong."""

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
    retry_if_not_exception_type,
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
from orderflow.entrypoints.tracing import processing_spans
from orderflow.ports.clock import Clock
from orderflow.ports.codec import MessageCodec
from orderflow.ports.messaging import Delivery, MessageConsumer, Partition
from orderflow.ports.metrics import (
    CONSUMER_BATCH_FALLBACKS,
    CONSUMER_COMMIT_FAILURES,
    CONSUMER_PAUSES,
    CONSUMER_RETRIES,
    DLQ_MESSAGES,
    PARTITIONS_PAUSED,
    WORKER_BUGS,
    Metrics,
)
from orderflow.ports.outbox import OutboxMessage

log = logging.getLogger(__name__)

# Errors that say "this message can never succeed": dead-letter at once.
PERMANENT = (PermanentMessageError, DomainError)


class PartitionStopped(Exception):
    """Processing `delivery` failed with an unexpected error (a bug) after
    the retries: its partition is to be paused."""

    def __init__(self, delivery: Delivery, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.delivery = delivery
        self.cause = cause


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
        # Read by readiness from other threads: plain values swapped whole.
        self.started_at = time.monotonic()
        self.assigned: frozenset[Partition] = frozenset()
        self._reported_paused: frozenset[Partition] = frozenset()

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

    def paused(self) -> frozenset[Partition]:
        """The partitions this worker stopped consuming because of a bug."""
        return self._reported_paused

    def close(self) -> None:
        """Leave the consumer group (uncommitted deliveries go to other members)."""
        self._consumer.close()

    def run_once(self) -> int:
        """Poll one batch and handle it; returns how many deliveries were
        settled and committed.

        The deliveries are handled in chunks, each chunk's orders in one
        database transaction (OrderProcessor.handle_many); a chunk that fails
        for anything but an outage is handled again one delivery at a time,
        so that one bad order neither fails nor doubles the others. Per
        partition, settled deliveries are always a prefix of the batch's:
        what is not settled is sought back and comes again (or, on a paused
        partition, waits for the next worker)."""
        deliveries = self._consumer.poll(
            max_messages=self._batch_size, timeout_s=self._poll_timeout_s
        )
        self.assigned = self._consumer.assigned()
        settled: list[Delivery] = []
        # By message id: a delivery duplicated within the batch emits its
        # status event once.
        outgoing: dict[str, OutboxMessage] = {}
        pending = list(deliveries)
        started = time.monotonic()
        try:
            while pending:
                elapsed = time.monotonic() - started
                if settled and elapsed > self._max_batch_s:
                    # A slow store must not hold a batch past the broker's
                    # poll interval (the member would be evicted and its
                    # commit refused): commit what is done, the rest comes again.
                    self._consumer.seek_back(pending)
                    break
                size = self._chunk_size(self._max_batch_s - elapsed)
                chunk, pending = pending[:size], pending[size:]
                stopped = self._handle_chunk(chunk, settled, outgoing)
                if stopped:
                    pending = [d for d in pending if d.place not in stopped]
        except InfrastructureError as exc:
            log.warning("dependency unavailable, pausing consumption: %s", exc)
            self._metrics.increment(CONSUMER_PAUSES)
            committed = self._commit(settled, outgoing)
            done = {(d.place, d.offset) for d in settled} if committed else set()
            self._consumer.seek_back([d for d in deliveries if (d.place, d.offset) not in done])
            self._stop.wait(self._retry.outage_pause_s)
            self._report_paused()
            return len(settled) if committed else 0
        if not self._commit(settled, outgoing):
            self._consumer.seek_back(settled)
            self._stop.wait(self._retry.outage_pause_s)
            self._report_paused()
            return 0
        self._report_paused()
        return len(settled)

    def _report_paused(self) -> None:
        """orderflow_partitions_paused: 1 for each partition this worker holds
        paused, back to 0 for one it no longer holds (a rebalance)."""
        paused = self._consumer.paused()
        if paused == self._reported_paused:
            return
        for topic, partition in self._reported_paused - paused:
            self._metrics.set(PARTITIONS_PAUSED, 0, topic=topic, partition=str(partition))
        for topic, partition in paused - self._reported_paused:
            self._metrics.set(PARTITIONS_PAUSED, 1, topic=topic, partition=str(partition))
        self._reported_paused = paused

    def _stop_partition(self, stopped: PartitionStopped) -> None:
        """A bug outlasted the retries on this delivery: stop consuming its
        partition, from this message on, and say so loudly."""
        delivery = stopped.delivery
        self._consumer.seek_back([delivery])
        self._consumer.pause([delivery.place])
        self._metrics.increment(WORKER_BUGS)
        log.error(
            "bug processing order %s (%s[%d]@%d), partition paused until the worker "
            "restarts; nothing was dead-lettered: %r",
            delivery.key,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            stopped.cause,
            exc_info=stopped.cause,
            extra={"order_id": delivery.key},
        )

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
    ) -> set[Partition]:
        """Handle `chunk`, appending each delivery to `settled` (and what it
        emits to `outgoing`) in order; the partitions it stopped because of a
        bug (their later deliveries are not handled). Raises
        InfrastructureError on an outage that outlasts the retries; the
        deliveries settled so far stay so."""
        started = time.monotonic()
        emitted: list[list[OutboxMessage] | None] = [None] * len(chunk)
        events: list[tuple[int, Event]] = []
        for index, delivery in enumerate(chunk):
            try:
                events.append((index, self._codec.decode(delivery.value)))
            except PermanentMessageError as exc:
                emitted[index] = [self._dead_letter(delivery, exc, 1)]
        if events:
            try:
                with processing_spans([chunk[index] for index, _ in events]):
                    orders = self._handle_many([event for _, event in events])
            except InfrastructureError:
                raise
            except Exception as exc:
                # Nothing of the chunk was committed: each delivery is
                # handled alone below, to find the culprit.
                log.warning("a batch of %d orders failed, one by one now: %r", len(events), exc)
                self._metrics.increment(CONSUMER_BATCH_FALLBACKS)
            else:
                for (index, _), order in zip(events, orders, strict=True):
                    emitted[index] = self._status_messages(order)
        stopped: set[Partition] = set()
        for index, delivery in enumerate(chunk):
            if delivery.place in stopped:
                continue
            messages = emitted[index]
            if messages is None:
                try:
                    messages = self._handle(delivery)
                except PartitionStopped as bug:
                    self._stop_partition(bug)
                    stopped.add(delivery.place)
                    continue
            settled.append(delivery)
            for message in messages:
                outgoing.setdefault(message.message_id, message)
        per_order = (time.monotonic() - started) / len(chunk)
        self._per_order_s = 0.7 * self._per_order_s + 0.3 * per_order
        return stopped

    def _handle_many(self, events: Sequence[Event]) -> list[Order | None]:
        """processor.handle_many with the transient-error retries; the last
        InfrastructureError when they run out (the caller pauses)."""
        for attempt in self._retrying(reraise=True):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self._metrics.increment(CONSUMER_RETRIES)
                return self._processor.handle_many(events)
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _retrying(self, *, reraise: bool, bugs_too: bool = False) -> Retrying:
        """Transient (infrastructure) errors, and with `bugs_too` any error
        but a permanent one, retried with exponential backoff and jitter,
        `RetryPolicy.attempts` times in all."""
        retry = (
            retry_if_not_exception_type(PERMANENT)
            if bugs_too
            else retry_if_exception_type(InfrastructureError)
        )
        return Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential_jitter(
                multiplier=self._retry.initial_backoff_s, max=self._retry.max_backoff_s
            ),
            retry=retry,
            reraise=reraise,
            sleep=self._sleep,
        )

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a stop request cuts a backoff short

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
            self._metrics.increment(CONSUMER_COMMIT_FAILURES)
            return False
        letters = sum(1 for m in messages if m.topic == self._topics.dlq)
        if letters:
            self._metrics.increment(DLQ_MESSAGES, letters)
        return True

    def _pause_for_broker(self, exc: InfrastructureError) -> None:
        log.warning("broker unavailable, pausing consumption: %s", exc)
        self._metrics.increment(CONSUMER_PAUSES)
        self._stop.wait(self._retry.outage_pause_s)

    def _handle(self, delivery: Delivery) -> list[OutboxMessage]:
        """Process one delivery; the messages it emits: the status event of
        the order it finished (or found finished), or its dead-letter record.
        Raises InfrastructureError when an outage outlasts the retries, and
        PartitionStopped when a bug does."""
        attempts = 0
        order: Order | None = None
        try:
            for attempt in self._retrying(reraise=False, bugs_too=True):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if attempts > 1:
                        self._metrics.increment(CONSUMER_RETRIES)
                    with processing_spans([delivery]):
                        (order,) = self._processor.handle_many([self._codec.decode(delivery.value)])
        except PERMANENT as exc:
            return [self._dead_letter(delivery, exc, attempts)]
        except RetryError as exc:
            cause = exc.last_attempt.exception() or exc
            # Transient errors that outlast the retries (a database outage, a
            # lock held too long) pause the worker: the message is fine, so it
            # must not be dead-lettered. Anything else is a bug in this
            # release: its partition stops, and the message waits for a fix.
            if isinstance(cause, InfrastructureError):
                raise cause from exc
            raise PartitionStopped(delivery, cause) from exc
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
