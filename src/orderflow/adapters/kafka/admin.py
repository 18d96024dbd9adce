"""Topic administration and a liveness probe, over a short-lived admin client."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


def ensure_topics(
    url: str, topics: Sequence[str], *, partitions: int, timeout_s: float = 10.0
) -> list[str]:
    """Create each topic that does not exist yet with `partitions` partitions
    and the broker's default replication. Idempotent: an existing topic is left
    as it is (its partition count is never raised, because that would move keys
    to other partitions and break per-key order). Returns the topics created."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    if not topics:
        return []
    wanted = {name: {"num_partitions": partitions, "replication_factor": -1} for name in topics}
    with _admin(url, timeout_s) as admin:
        try:
            response = admin.create_topics(
                wanted,
                timeout_ms=int(timeout_s * 1000),
                raise_errors=False,
                wait_for_metadata=True,
            )
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot create topics {list(topics)}: {exc}") from exc
    created: list[str] = []
    for result in response["topics"]:
        code = result["error_code"]
        if code == 0:
            created.append(result["name"])
        elif code != TOPIC_ALREADY_EXISTS:
            raise BrokerUnavailable(
                f"cannot create topic {result['name']!r}: error {code} {result['error_message']}"
            )
    if created:
        log.info("created topics %s with %d partitions", created, partitions)
    return created


def ping(url: str, *, timeout_s: float = 2.0) -> None:
    """Raise BrokerUnavailable unless the cluster answers a metadata request."""
    with _admin(url, timeout_s) as admin:
        try:
            admin.list_topics()
        except KafkaError as exc:
            raise BrokerUnavailable(f"kafka does not answer: {exc}") from exc


@contextmanager
def _admin(url: str, timeout_s: float) -> Iterator[Any]:
    timeout_ms = max(1, int(timeout_s * 1000))
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers(url),
            client_id="orderflow-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot reach kafka at {url}: {exc}") from exc
    try:
        yield admin
    finally:
        admin.close()
