"""Consumer-group lag read from the broker: end offsets against the group's
committed offsets (what `kafka-consumer-groups.sh --describe` shows).

Each call opens a short-lived consumer that names the group but never
subscribes, so it reads the group's commits without joining it (no
rebalance). Lag is read at scrape time, seconds apart; a client kept open
would have to survive broker restarts for nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import ConsumerLagProbe


class KafkaLagProbe(ConsumerLagProbe):
    def __init__(self, servers: Sequence[str], *, timeout_s: float = 2.0) -> None:
        self._servers = list(servers)
        self._timeout_ms = max(1, int(timeout_s * 1000))

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 2.0) -> KafkaLagProbe:
        return cls(bootstrap_servers(url), timeout_s=timeout_s)

    def lag(self, *, group: str, topic: str) -> dict[int, int]:
        consumer: Any = None
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self._servers,
                client_id="orderflow-lag",
                group_id=group,
                enable_auto_commit=False,
                # Past open transactions: what the workers could read now.
                isolation_level="read_committed",
                bootstrap_timeout_ms=self._timeout_ms,
                request_timeout_ms=self._timeout_ms,
            )
            partitions = consumer.partitions_for_topic(topic) or set()
            places = [TopicPartition(topic, p) for p in sorted(partitions)]
            if not places:
                return {}
            ends = consumer.end_offsets(places)
            starts = consumer.beginning_offsets(places)
            lag: dict[int, int] = {}
            for place in places:
                committed = consumer.committed(place)
                position = starts[place] if committed is None else committed
                lag[place.partition] = max(0, ends[place] - position)
            return lag
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot read the lag of group {group!r}: {exc}") from exc
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)
