"""Baselines on the broker itself, with kafka-python and the settings the
workers use (read_committed, fetch_max_wait_ms=20): a consumer that reads
the orders backlog and does nothing, and produce-to-consume latency at a
fixed rate."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from orderflow.adapters.kafka.urls import bootstrap_servers
from tools.bench.errors import BenchError
from tools.bench.figures import percentile

CONSUMER_SETTINGS: dict[str, Any] = {
    "enable_auto_commit": False,
    "isolation_level": "read_committed",
    "fetch_max_wait_ms": 20,
}


def raw_consume_rate(
    broker_url: str, topic: str, expected: int, *, timeout_s: float = 300
) -> float:
    """Messages/s of a consumer reading `expected` messages of `topic` from
    the start and doing nothing with them. Its partitions are assigned, not
    joined through the group (a join costs seconds on the test broker), so
    the clock runs from its first fetch to its last message."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url), **CONSUMER_SETTINGS)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise BenchError(f"the topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        seen = 0
        start = time.monotonic()
        deadline = start + timeout_s
        while seen < expected:
            if time.monotonic() > deadline:
                raise BenchError(f"the raw consumer read {seen} of {expected} messages")
            batches = consumer.poll(timeout_ms=500)
            seen += sum(len(records) for records in batches.values())
        return seen / max(time.monotonic() - start, 1e-6)
    finally:
        consumer.close(autocommit=False)


def produce_consume_latency_ms(
    broker_url: str, *, rate: float, duration_s: float, partitions: int = 6
) -> tuple[float, float]:
    """p50 and p99 (ms) from send to receipt of messages sent at `rate`/s
    by an acks=all producer to a read_committed consumer."""
    servers = bootstrap_servers(broker_url)
    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=0)
    consumer = KafkaConsumer(bootstrap_servers=servers, **CONSUMER_SETTINGS)
    try:
        # Create the topic and attach the consumer before the clock starts.
        producer.send(topic, b"warm-up").get(timeout=30)
        deadline = time.monotonic() + 30
        found = consumer.partitions_for_topic(topic)
        while not found and time.monotonic() < deadline:
            time.sleep(0.1)
            found = consumer.partitions_for_topic(topic)
        if not found:
            raise BenchError(f"topic {topic} did not appear")
        consumer.assign([TopicPartition(topic, p) for p in found])
        consumer.seek_to_end()
        for tp in consumer.assignment():
            consumer.position(tp)
        latencies: list[float] = []
        total = int(rate * duration_s)
        done = threading.Event()

        def receive() -> None:
            while not done.is_set() or len(latencies) < total:
                for records in consumer.poll(timeout_ms=100).values():
                    now = time.monotonic()
                    latencies.extend(now - float(r.value) for r in records)
                if done.is_set() and time.monotonic() > stop_waiting:
                    return

        stop_waiting = float("inf")
        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        start = time.monotonic()
        for index in range(total):
            due = start + index / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            producer.send(topic, str(due).encode())
        producer.flush(timeout=30)
        stop_waiting = time.monotonic() + 10
        done.set()
        receiver.join(15)
        if len(latencies) < total * 0.99:
            raise BenchError(f"the latency probe received {len(latencies)} of {total} messages")
        ms = [latency * 1000 for latency in latencies]
        return percentile(ms, 50), percentile(ms, 99)
    finally:
        producer.close(timeout=5)
        consumer.close()
