"""The consumer worker: orders topic -> OrderProcessor.

Offsets are committed only after the effects of a delivery are durable (or
after a poison message reached the DLQ). Transient errors are retried with
exponential backoff and jitter (tenacity); a database outage that outlasts
the retries pauses the worker (rewind, wait, try again) instead of
dead-lettering, because the message is fine and the database will be back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from orderflow.domain.envelope import Topics, decode
from orderflow.domain.errors import (
    DomainError,
    InfrastructureError,
    PermanentMessageError,
    StorageUnavailable,
)
from orderflow.domain.services import OrderProcessor
from orderflow.entrypoints.dead_letters import dead_letter
from orderflow.ports.clock import Clock
from orderflow.ports.messaging import Delivery, MessageConsumer, MessagePublisher
from orderflow.ports.metrics import Metrics

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
        dlq_publisher: MessagePublisher,
        clock: Clock,
        metrics: Metrics,
        topics: Topics,
        retry: RetryPolicy,
        batch_size: int = 100,
        poll_timeout_s: float = 0.5,
    ) -> None:
        self._consumer = consumer
        self._processor = processor
        self._dlq = dlq_publisher
        self._clock = clock
        self._metrics = metrics
        self._topics = topics
        self._retry = retry
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to finish its current batch, commit, and return."""
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self.run_once()
        finally:
            self.close()

    def close(self) -> None:
        """Leave the consumer group (uncommitted deliveries go to other members)."""
        self._consumer.close()

    def run_once(self) -> int:
        """Poll one batch and handle it; returns how many deliveries were settled."""
        deliveries = self._consumer.poll(
            max_messages=self._batch_size, timeout_s=self._poll_timeout_s
        )
        settled: list[Delivery] = []
        for index, delivery in enumerate(deliveries):
            try:
                self._handle(delivery)
            except StorageUnavailable as exc:
                self._pause(settled, deliveries[index:], exc)
                return len(settled)
            settled.append(delivery)
        if settled:
            self._consumer.commit(settled)
        return len(settled)

    def _handle(self, delivery: Delivery) -> None:
        attempts = 0
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self._retry.attempts),
                wait=wait_exponential_jitter(
                    multiplier=self._retry.initial_backoff_s, max=self._retry.max_backoff_s
                ),
                retry=retry_if_exception_type(InfrastructureError),
                reraise=False,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if attempts > 1:
                        self._metrics.increment("consumer_retries_total")
                    self._processor.handle(decode(delivery.value))
        except PERMANENT as exc:
            self._dead_letter(delivery, exc, attempts)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            if isinstance(cause, StorageUnavailable):
                raise cause from exc
            self._dead_letter(delivery, cause or exc, attempts)
        except Exception as exc:  # an unforeseen bug must not wedge the partition
            log.exception("unexpected error on %s@%s", delivery.topic, delivery.offset)
            self._dead_letter(delivery, exc, attempts)

    def _dead_letter(self, delivery: Delivery, error: BaseException, attempts: int) -> None:
        log.error(
            "dead-lettering %s/%s@%s: %s",
            delivery.topic,
            delivery.partition,
            delivery.offset,
            error,
        )
        message = dead_letter(
            delivery,
            error=error,
            attempts=attempts,
            topic=self._topics.dlq,
            now=self._clock.now(),
        )
        # If the DLQ itself cannot be written this raises, nothing is
        # committed, and the delivery comes back: nothing is lost.
        self._dlq.publish([message])
        self._metrics.increment("dlq_messages_total")

    def _pause(
        self, settled: Sequence[Delivery], unsettled: Sequence[Delivery], exc: Exception
    ) -> None:
        log.warning("database unavailable, pausing consumption: %s", exc)
        self._metrics.increment("consumer_pauses_total")
        if settled:
            self._consumer.commit(settled)
        self._consumer.seek_back(unsettled)
        self._stop.wait(self._retry.outage_pause_s)
