"""What the publisher and the consumer's transactions share: the producer
settings, sending a batch and waiting for it, and transactions with bounded
waits.

Transactions: one at a time per TransactionalProducer, each holding a batch of
sends and, for a consumer, the group's offsets (send_offsets_to_transaction).
kafka-python's commit_transaction, abort_transaction and
send_offsets_to_transaction wait without a time limit, and while the broker is
down they wait for as long as it stays down. Here each wait is bounded: those
public methods run on the producer's own step thread (step_thread.py) and the
caller waits for them with a timeout. A producer whose transaction could not
be finished or aborted in time is dropped (closed without waiting; a step
still stuck keeps only its own daemon thread); the next transaction starts a
new producer with the same transactional id, whose init_transactions fences
the old one and makes the broker abort whatever it left open."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from orderflow.adapters.envelope import encode
from orderflow.adapters.kafka.step_thread import StepThread
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.outbox import OutboxMessage

log = logging.getLogger(__name__)


def producer_config(
    servers: Sequence[str],
    *,
    client_id: str,
    connect_timeout_s: float,
    request_timeout_s: float,
    delivery_timeout_s: float,
    linger_ms: int = 5,
    batch_size: int = 256 * 1024,
    compression_type: str | None = None,
) -> dict[str, Any]:
    """KafkaProducer settings: every send acknowledged by all in-sync replicas,
    retried until `delivery_timeout_s` runs out, every call time-bounded."""
    return {
        "bootstrap_servers": list(servers),
        "client_id": client_id,
        "acks": "all",
        # Retry until delivery_timeout_ms runs out; the idempotent producer
        # (kafka-python's default where the broker supports it) keeps
        # retried batches in order and free of duplicates.
        "retries": 2**31 - 1,
        "retry_backoff_ms": 100,
        # The Tansu test broker spends most of its CPU per produce request
        # and real Kafka likes big batches too: let a batch share requests.
        "linger_ms": linger_ms,
        "batch_size": batch_size,
        "compression_type": compression_type,
        "bootstrap_timeout_ms": ms(connect_timeout_s),
        "max_block_ms": ms(connect_timeout_s),
        "request_timeout_ms": ms(request_timeout_s),
        "delivery_timeout_ms": max(ms(delivery_timeout_s), ms(request_timeout_s) + linger_ms + 1),
        "reconnect_backoff_max_ms": 1000,
    }


def send_all(
    producer: Any, messages: Sequence[OutboxMessage], *, timeout_s: float
) -> list[BaseException]:
    """Send every message (key = order id, value = the envelope) and wait up to
    `timeout_s` for the acknowledgements; the errors of those that failed.
    Raises KafkaError if the producer refused a send or the wait ran out."""
    futures = send_now(producer, messages)
    producer.flush(timeout=timeout_s)  # ends the linger, and waits
    return failures(futures)


def send_now(producer: Any, messages: Sequence[OutboxMessage]) -> list[Any]:
    """Send every message (key = order id, value = the envelope); their
    futures, not waited for. In a transaction, the commit sends what the
    producer still holds (linger or not) and waits for it."""
    # Send everything first so the batches share requests.
    return [
        producer.send(
            message.topic,
            key=message.key.encode(),
            value=encode(message),
            headers=[(name, value.encode()) for name, value in message.headers.items()],
        )
        for message in messages
    ]


def failures(futures: Sequence[Any]) -> list[BaseException]:
    """The errors of the sends (futures of send_now) that did not succeed."""
    return [
        future.exception
        if isinstance(future.exception, BaseException)
        else KafkaError("not acknowledged")
        for future in futures
        if not future.succeeded()
    ]


class TransactionalProducer:
    """A KafkaProducer with a transactional id, created on first use, that
    runs one transaction at a time (a lock serialises callers).

    `timeout_s` bounds the wait for a transaction's end (its offsets and
    its commit, which also waits for the sends) and for an abort;
    `transaction_timeout_s` is how long the broker lets a transaction stay
    open before it aborts it itself, which bounds how long a crashed
    process's open transaction holds back read_committed consumers."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        transactional_id: str,
        timeout_s: float,
        transaction_timeout_s: float = 60.0,
    ) -> None:
        if not transactional_id:
            raise ValueError("a transactional producer needs a transactional id")
        self.transactional_id = transactional_id
        self._config: dict[str, Any] = {
            **config,
            "transactional_id": transactional_id,
            "enable_idempotence": True,
            "transaction_timeout_ms": ms(transaction_timeout_s),
        }
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._producer: Any = None
        self._steps: StepThread | None = None
        self._closed = False

    def run(
        self,
        messages: Sequence[OutboxMessage],
        *,
        offsets: dict[Any, Any] | None = None,
        group_metadata: Any = None,
    ) -> None:
        """Send `messages` and, if given, commit `offsets` for the consumer
        group of `group_metadata`, in one transaction. Raises BrokerUnavailable
        when the transaction was not committed (it is then aborted, or left to
        the broker to abort)."""
        with self._lock:
            producer, steps = self._ensure_producer()
            try:
                producer.begin_transaction()
                # The sends are not waited for on their own: the commit
                # flushes them (no linger) and kafka-python holds the EndTxn
                # back until every batch is acknowledged, so the commit's
                # wait covers them, and a failed send fails the commit (the
                # transaction is then aborted).
                futures = send_now(producer, messages) if messages else []
                # The offsets and the commit go to the step thread together,
                # under one deadline: one hand-off per transaction.
                steps.run(
                    lambda: self._finish(producer, offsets, group_metadata),
                    timeout_s=self._timeout_s,
                    what="sending the offsets and the commit" if offsets else "the commit",
                )
                failed = failures(futures)
                if failed:  # not expected after a commit; never taken as sent
                    raise KafkaError(
                        f"{len(failed)} of {len(messages)} messages were not "
                        f"acknowledged: {failed[0]}"
                    ) from failed[0]
            except KafkaError as exc:
                self._abort(producer, steps)
                raise BrokerUnavailable(
                    f"kafka transaction of {len(messages)} messages"
                    f"{' and offsets' if offsets else ''} not committed: {exc}"
                ) from exc
            except BaseException:  # a bug, or an interrupt: still leave no transaction open
                self._abort(producer, steps)
                raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            producer, steps = self._producer, self._steps
            self._producer = self._steps = None
        if steps is not None:
            steps.stop()
        if producer is not None:
            try:
                producer.close(timeout=self._timeout_s)
            except KafkaError as exc:
                log.warning("transactional producer did not close cleanly: %s", exc)
                close_now(producer)

    def _finish(self, producer: Any, offsets: dict[Any, Any] | None, group_metadata: Any) -> None:
        """The waiting steps of a transaction, on the producer's step thread."""
        if offsets:
            producer.send_offsets_to_transaction(offsets, group_metadata)
        self._commit(producer)

    def _commit(self, producer: Any) -> None:
        producer.commit_transaction()

    def _abort(self, producer: Any, steps: StepThread) -> None:
        if steps.busy:
            # The commit (or the offsets) is still waiting on the step
            # thread: an abort would wait behind it.
            reason = "a transaction step is still waiting"
        else:
            # One request to a reachable coordinator; after a failure that
            # took the whole step timeout already, do not wait that long again.
            timeout_s = min(self._timeout_s, self._config["request_timeout_ms"] / 1000)
            try:
                steps.run(producer.abort_transaction, timeout_s=timeout_s, what="the abort")
                return
            except KafkaError as exc:
                reason = f"abort failed: {exc}"
        # In a fatal state, or the broker is away. The transaction stays open
        # on the broker until the next producer with this id fences it, or
        # until transaction_timeout_s, and is aborted then.
        log.warning("dropping kafka producer %s: %s", self.transactional_id, reason)
        self._discard()

    def _discard(self) -> None:
        producer, steps = self._producer, self._steps
        self._producer = self._steps = None
        if steps is not None:
            steps.stop()
        if producer is not None:
            close_now(producer)

    def _ensure_producer(self) -> tuple[Any, StepThread]:
        if self._closed:
            raise BrokerUnavailable("the transactional producer is closed")
        if self._producer is None or self._steps is None:
            servers = ",".join(self._config["bootstrap_servers"])
            try:
                producer = KafkaProducer(**self._config)
            except KafkaError as exc:
                raise BrokerUnavailable(f"cannot reach kafka at {servers}: {exc}") from exc
            try:
                # Bounded by max_block_ms. Fences an earlier producer with the
                # same id and aborts what it left open.
                producer.init_transactions()
            except KafkaError as exc:
                close_now(producer)
                raise BrokerUnavailable(
                    f"cannot start kafka transactions at {servers}: {exc}"
                ) from exc
            self._producer = producer
            self._steps = StepThread(f"kafka-transactions-{self.transactional_id}")
        return self._producer, self._steps


def close_now(producer: Any) -> None:
    """Close a producer without waiting for what it still holds.

    kafka-python's close(0) stops the I/O thread at once, except while
    records are still unacknowledged: its flush then raises first and leaves
    the thread running. Those records fail by the delivery timeout at the
    latest, so a daemon thread closes the producer again, waiting that long."""
    try:
        producer.close(timeout=0)
    except KafkaError as exc:
        log.debug("kafka producer still holds records (%s): closing it in the background", exc)
        delivery_timeout_s = producer.config["delivery_timeout_ms"] / 1000
        threading.Thread(
            target=_close_waiting,
            args=(producer, delivery_timeout_s),
            name="kafka-producer-close",
            daemon=True,
        ).start()


def _close_waiting(producer: Any, timeout_s: float) -> None:
    try:
        producer.close(timeout=timeout_s)
    except KafkaError as exc:
        log.warning("kafka producer did not close within %g s: %s", timeout_s, exc)


def ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
