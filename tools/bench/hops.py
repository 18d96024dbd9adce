"""Where the end-to-end time goes, hop by hop, for the orders of one e2e run.

From the bench's own clock (order due, POST answered, terminal event read),
the database (orders.created_at and updated_at, the OrderPlaced outbox row's
published_at) and the broker (the CreateTime of each order's record on the
orders topic, set when the relay sent it, and of its terminal event on the
events topic, set when the worker sent it). All of them are wall-clock times
of processes on one machine, so the differences are comparable to about a
millisecond (Kafka timestamps are whole milliseconds)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, bindparam, text

from orderflow.adapters.kafka.urls import bootstrap_servers
from tools.bench.errors import BenchError
from tools.bench.figures import percentile
from tools.bench.kafka_baselines import CONSUMER_SETTINGS

TERMINAL = frozenset({"OrderCompleted", "OrderFailed"})

# (name, from, to): each a key of the per-order moments below.
HOPS = (
    ("POST answered", "due", "answered"),
    ("due -> order committed (created_at)", "due", "created"),
    ("created_at -> relay sent (orders record)", "created", "relayed"),
    ("relay sent -> outbox marked (published_at)", "relayed", "published"),
    ("published_at -> terminal committed (updated_at)", "published", "finished"),
    ("updated_at -> event sent (events record)", "finished", "emitted"),
    ("event sent -> read by the bench", "emitted", "read"),
    ("total: due -> read", "due", "read"),
)


def breakdown(
    timings: Mapping[str, tuple[float, float, float | None]],
    *,
    engine: Engine,
    broker_url: str,
    orders_topic: str,
    events_topic: str,
) -> list[tuple[str, int, float, float]]:
    """(hop, orders measured, p50 ms, p99 ms) for each hop of HOPS."""
    moments: dict[str, dict[str, float]] = {
        order_id: {"due": due, "answered": answered, **({"read": read} if read else {})}
        for order_id, (due, answered, read) in timings.items()
    }
    ids = list(moments)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, created_at, updated_at FROM orders WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
        for order_id, created, updated in rows:
            moments[order_id]["created"] = _seconds(created)
            moments[order_id]["finished"] = _seconds(updated)
        rows = connection.execute(
            text(
                "SELECT `key`, MIN(published_at) FROM outbox WHERE topic = :topic "
                "AND `key` IN :ids AND published_at IS NOT NULL GROUP BY `key`"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids, "topic": orders_topic},
        )
        for order_id, published in rows:
            moments[order_id]["published"] = _seconds(published)
    for key, stamp, _ in _records(broker_url, orders_topic):
        if key in moments:
            moments[key].setdefault("relayed", stamp)
    for key, stamp, value in _records(broker_url, events_topic):
        if key in moments and json.loads(value).get("type") in TERMINAL:
            moments[key].setdefault("emitted", stamp)
    figures = []
    for name, start, end in HOPS:
        spans = [(m[end] - m[start]) * 1000 for m in moments.values() if start in m and end in m]
        figures.append((name, len(spans), percentile(spans, 50), percentile(spans, 99)))
    # A relay batch marks its rows with one published_at, and a worker's
    # transaction sends its events within a millisecond or two: the gaps
    # between batches are the relay's and the workers' cycles.
    for name, moment in (("relay batches: gap", "published"), ("event batches: gap", "emitted")):
        batches = sorted({round(m[moment], 3) for m in moments.values() if moment in m})
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(batches)]
        figures.append((name, len(batches), percentile(gaps, 50), percentile(gaps, 99)))
    return figures


def _seconds(moment: datetime | str) -> float:
    if isinstance(moment, str):  # SQLite keeps text
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:  # MySQL's DATETIME and SQLite: naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _records(broker_url: str, topic: str) -> Iterator[tuple[str, float, bytes]]:
    """(key, CreateTime in seconds, value) of every committed record of `topic`."""
    consumer: Any = KafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url), **CONSUMER_SETTINGS
    )
    try:
        places = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(places)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(places)
        deadline = time.monotonic() + 60
        while any(consumer.position(p) < ends[p] for p in places):
            if time.monotonic() > deadline:
                raise BenchError(f"could not read {topic} to its end")
            batches = consumer.poll(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        yield record.key.decode(), record.timestamp / 1000, record.value
    finally:
        consumer.close()


def report(figures: list[tuple[str, int, float, float]]) -> str:
    lines = [f"{'hop':<50} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}"]
    lines += [f"{name:<50} {n:>6} {p50:>8.1f} {p99:>8.1f}" for name, n, p50, p99 in figures]
    return "\n".join(lines)
