"""The relay's publisher: every outbox message acknowledged by all in-sync
replicas before publish() returns, in order per key; with a transactional id,
each publish() is one Kafka transaction."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from orderflow.adapters.kafka import admin
from orderflow.adapters.kafka.producing import (
    TransactionalProducer,
    close_now,
    producer_config,
    send_all,
)
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.outbox import OutboxMessage

log = logging.getLogger(__name__)


class KafkaPublisher(MessagePublisher):
    """A KafkaProducer behind the MessagePublisher port.

    The producer is created on first use, and again after a failed creation,
    so a relay that starts while the broker is down keeps its outbox and
    drains it once the broker is back (SPEC: Delivery guarantees).

    Timeouts bound every call: `connect_timeout_s` for reaching the cluster and
    for topic metadata, `request_timeout_s` per produce request, and
    `delivery_timeout_s` for a message from send to acknowledgement, retries
    included; publish() gives up (BrokerUnavailable) after about that long.

    With a `transactional_id` (unique per publisher: two live producers with
    one id fence each other), each publish() is one transaction: a
    read_committed consumer sees all of the batch or, if it is aborted, none
    of it. Without one, messages are acknowledged one by one, and a failed
    publish() may have delivered some of the batch."""

    def __init__(
        self,
        servers: Sequence[str],
        *,
        client_id: str = "orderflow-publisher",
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 5.0,
        delivery_timeout_s: float = 15.0,
        linger_ms: int = 5,
        batch_size: int = 256 * 1024,
        compression_type: str | None = None,
        transactional_id: str | None = None,
        transaction_timeout_s: float = 60.0,
    ) -> None:
        self._servers = list(servers)
        self._delivery_timeout_s = delivery_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._config = producer_config(
            self._servers,
            client_id=client_id,
            connect_timeout_s=connect_timeout_s,
            request_timeout_s=request_timeout_s,
            delivery_timeout_s=delivery_timeout_s,
            linger_ms=linger_ms,
            batch_size=batch_size,
            compression_type=compression_type,
        )
        self._transactions = (
            None
            if transactional_id is None
            else TransactionalProducer(
                self._config,
                transactional_id=transactional_id,
                timeout_s=delivery_timeout_s + connect_timeout_s,
                transaction_timeout_s=transaction_timeout_s,
            )
        )
        self._lock = threading.Lock()
        self._producer: Any = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> KafkaPublisher:
        """From ORDERFLOW_BROKER_URL (`kafka://host:port[,host:port]`)."""
        return cls(bootstrap_servers(url), **options)

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        if not messages:
            return
        if self._transactions is not None:
            if self._closed:
                raise BrokerUnavailable("the publisher is closed")
            self._transactions.run(messages)
            return
        with self._lock:
            failures = self._send_all(messages)
            if failures and any(not _retriable(exc) for exc in failures):
                # A producer-state error (its producer id unknown after a
                # broker lost its state or expired it, fenced, out of
                # sequence) fails every later send too: start over once with
                # a new producer. A resent message may arrive twice; consumers
                # deduplicate by event id.
                log.warning("kafka producer failed (%s): retrying with a new one", failures[0])
                self._discard()
                failures = self._send_all(messages)
        if failures:
            first = failures[0]
            raise BrokerUnavailable(
                f"{len(failures)} of {len(messages)} messages were not acknowledged: {first}"
            ) from first

    def _send_all(self, messages: Sequence[OutboxMessage]) -> list[BaseException]:
        """Send every message and wait for the acknowledgements; the errors of
        those that failed. Raises BrokerUnavailable if the cluster is unreachable."""
        producer = self._ensure_producer()
        try:
            return send_all(
                producer, messages, timeout_s=self._delivery_timeout_s + self._connect_timeout_s
            )
        except KafkaError as exc:
            raise BrokerUnavailable(f"kafka did not take the messages: {exc}") from exc

    def ping(self) -> None:
        admin.ping(f"kafka://{','.join(self._servers)}", timeout_s=self._connect_timeout_s)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            producer, self._producer = self._producer, None
        if self._transactions is not None:
            self._transactions.close()
        if producer is not None:
            try:
                producer.close(timeout=self._delivery_timeout_s)
            except KafkaError as exc:  # unsent records are still in the outbox
                log.warning("kafka producer did not close cleanly: %s", exc)
                close_now(producer)

    def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            close_now(producer)

    def _ensure_producer(self) -> Any:
        if self._closed:
            raise BrokerUnavailable("the publisher is closed")
        if self._producer is None:
            try:
                self._producer = KafkaProducer(**self._config)
            except KafkaError as exc:
                raise BrokerUnavailable(
                    f"cannot reach kafka at {','.join(self._servers)}: {exc}"
                ) from exc
            if not self._producer.config["enable_idempotence"]:
                log.warning(
                    "the broker does not support idempotent producers: "
                    "a retried batch may be duplicated"
                )
        return self._producer


def _retriable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retriable", False))
