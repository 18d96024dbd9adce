"""What the publisher and the consumer's transactions share: the producer
settings, sending a batch and waiting for it, and transactions with bounded
waits.

Transactions: one at a time per TransactionalProducer, each holding a batch of
sends and, for a consumer, the group's offsets (send_offsets_to_transaction).
kafka-python's commit_transaction, abort_transaction and
send_offsets_to_transaction wait without a time limit, and while the broker is
down they wait for as long as it stays down. Here each wait is bounded: the
same steps as kafka-python's own methods (start the step on the producer's
transaction manager, wake its sender, wait for the result), with a timeout.
A producer whose transaction could not be finished or aborted in time is
dropped; the next transaction starts a new producer with the same
transactional id, whose init_transactions fences the old one and makes the
broker abort whatever it left open."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from orderflow.adapters.envelope import encode
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
        producer.send(message.topic, key=message.key.encode(), value=encode(message))
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

    `timeout_s` bounds each step of a transaction (the sends, the offsets, the
    commit, an abort); `transaction_timeout_s` is how long the broker lets a
    transaction stay open before it aborts it itself, which bounds how long a
    crashed process's open transaction holds back read_committed consumers."""

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
            producer = self._ensure_producer()
            try:
                producer.begin_transaction()
                # The sends are not waited for on their own: the commit
                # flushes them (no linger) and kafka-python holds the EndTxn
                # back until every batch is acknowledged, so the commit's
                # wait covers them, and a failed send fails the commit (the
                # transaction is then aborted). One wait and wake-up fewer
                # per transaction than flush() then commit.
                futures = send_now(producer, messages) if messages else []
                if offsets:
                    self._step(
                        producer,
                        lambda manager: manager.send_offsets_to_transaction(
                            offsets, group_metadata
                        ),
                        "sending the offsets",
                    )
                self._commit(producer)
                failed = failures(futures)
                if failed:  # not expected after a commit; never taken as sent
                    raise KafkaError(
                        f"{len(failed)} of {len(messages)} messages were not "
                        f"acknowledged: {failed[0]}"
                    ) from failed[0]
            except KafkaError as exc:
                self._abort(producer)
                raise BrokerUnavailable(
                    f"kafka transaction of {len(messages)} messages"
                    f"{' and offsets' if offsets else ''} not committed: {exc}"
                ) from exc
            except BaseException:  # a bug, or an interrupt: still leave no transaction open
                self._abort(producer)
                raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self._timeout_s)
            except KafkaError as exc:
                log.warning("transactional producer did not close cleanly: %s", exc)
                close_now(producer)

    def _commit(self, producer: Any) -> None:
        self._step(producer, lambda manager: manager.begin_commit(), "the commit")

    def _step(
        self,
        producer: Any,
        start: Callable[[Any], Any],
        what: str,
        *,
        timeout_s: float | None = None,
    ) -> None:
        """One transactional request, waited for at most `timeout_s` (default:
        the step timeout)."""
        timeout_s = self._timeout_s if timeout_s is None else timeout_s
        manager = getattr(producer, "_transaction_manager", None)
        sender = getattr(producer, "_sender", None)
        if manager is None or sender is None:  # not the kafka-python this was written for
            raise KafkaError("kafka-python's transaction manager is not where expected")
        result = start(manager)
        sender.wakeup()
        if not result.wait(timeout_ms=ms(timeout_s)):  # raises the step's error
            raise KafkaTimeoutError(f"{what} took longer than {timeout_s:g} s")

    def _abort(self, producer: Any) -> None:
        # One request to a reachable coordinator; after a failure that took
        # the whole step timeout already, do not wait that long again.
        timeout_s = min(self._timeout_s, self._config["request_timeout_ms"] / 1000)
        try:
            self._step(
                producer, lambda manager: manager.begin_abort(), "the abort", timeout_s=timeout_s
            )
        except KafkaError as exc:
            # In a fatal state, or the broker is away. The transaction stays
            # open on the broker until the next producer with this id fences
            # it, or until transaction_timeout_s, and is aborted then.
            log.warning("dropping kafka producer %s: abort failed: %s", self.transactional_id, exc)
            self._discard()

    def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            close_now(producer)

    def _ensure_producer(self) -> Any:
        if self._closed:
            raise BrokerUnavailable("the transactional producer is closed")
        if self._producer is None:
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
                producer.close(timeout=0)
                raise BrokerUnavailable(
                    f"cannot start kafka transactions at {servers}: {exc}"
                ) from exc
            self._producer = producer
        return self._producer


def close_now(producer: Any) -> None:
    """Close a producer without waiting for what it still holds. close(0)
    first flushes with no time to do it, and when records are still pending
    it raises before stopping the I/O thread: stop that thread (which closes
    the connections) ourselves then."""
    try:
        producer.close(timeout=0)
    except KafkaError as exc:
        log.debug("kafka producer did not close cleanly (%s): forcing it", exc)
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()


def ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
