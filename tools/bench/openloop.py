"""End to end at a fixed offered load: orders are POSTed on a schedule
(open loop: a slow answer does not delay the next order, and latency is
counted from the scheduled time, so queueing is not hidden), and each one's
completion is seen on the events topic, as an outside reader would see it.

wrk cannot hold a fixed rate (wrk2, which can, is not packaged in Debian),
hence this small generator; at a few hundred orders/s its own cost is small."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kafka import KafkaConsumer, TopicPartition

from orderflow.adapters.kafka.urls import bootstrap_servers
from tools.bench.errors import BenchError
from tools.bench.figures import percentile
from tools.bench.kafka_baselines import CONSUMER_SETTINGS

TERMINAL = frozenset({"OrderCompleted", "OrderFailed"})


@dataclass(frozen=True, slots=True)
class EndToEnd:
    offered: int
    completed: int  # terminal event seen
    errors: int  # POSTs not answered 201
    p50_ms: float
    p99_ms: float
    post_p99_ms: float  # of that, until the POST was answered
    # Per order (by id): wall-clock seconds when it was due, when its POST
    # was answered and when its terminal event was read (None: never), for
    # the per-hop breakdown (bench/hops.py).
    timings: dict[str, tuple[float, float, float | None]]


class _Completions:
    """Reads the events topic from its current end; the arrival time of each
    order's terminal event."""

    def __init__(self, broker_url: str, topic: str) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers(broker_url), **CONSUMER_SETTINGS
        )
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            raise BenchError(f"the events topic {topic} does not exist")
        self._consumer.assign([TopicPartition(topic, p) for p in partitions])
        self._consumer.seek_to_end()
        for tp in self._consumer.assignment():
            self._consumer.position(tp)
        self.arrivals: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=100).values():
                now = time.monotonic()
                for record in records:
                    envelope: Any = json.loads(record.value)
                    if envelope.get("type") in TERMINAL:
                        self.arrivals.setdefault(str(envelope.get("key")), now)


class _Client(threading.local):
    connection: http.client.HTTPConnection | None = None


def run_open_loop(
    api_base: str,
    bodies: Sequence[str],
    *,
    broker_url: str,
    events_topic: str,
    rate: float,
    duration_s: float,
    drain_s: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> EndToEnd:
    target = urlsplit(api_base)
    client = _Client()
    sent: dict[str, float] = {}
    answered: list[float] = []
    answered_at: dict[str, float] = {}
    errors = 0
    lock = threading.Lock()

    def post(due: float, body: str) -> None:
        nonlocal errors
        try:
            if client.connection is None:
                client.connection = http.client.HTTPConnection(
                    target.hostname or "127.0.0.1", target.port, timeout=10
                )
            client.connection.request(
                "POST", "/api/orders", body, {"Content-Type": "application/json", **(headers or {})}
            )
            response = client.connection.getresponse()
            payload = response.read()
            if response.status != 201:
                raise BenchError(f"POST answered {response.status}: {payload[:200]!r}")
            order_id = json.loads(payload)["id"]
            with lock:
                sent[order_id] = due
                answered_at[order_id] = time.monotonic()
                answered.append((answered_at[order_id] - due) * 1000)
        except (OSError, http.client.HTTPException, BenchError, ValueError, KeyError):
            with lock:
                errors += 1
            if client.connection is not None:
                client.connection.close()
                client.connection = None

    completions = _Completions(broker_url, events_topic)
    completions.start()
    try:
        total = int(rate * duration_s)
        with ThreadPoolExecutor(max_workers=64) as pool:
            start = time.monotonic() + 0.1
            for index in range(total):
                due = start + index / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(post, due, bodies[index % len(bodies)])
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and not set(sent) <= set(completions.arrivals):
            time.sleep(0.2)
    finally:
        completions.stop()
    arrivals = completions.arrivals
    given_up = time.monotonic()
    # An order not finished when the bench gave up counts with the time it
    # had waited: the percentiles are then lower bounds, and say so.
    latencies = [(arrivals.get(i, given_up) - due) * 1000 for i, due in sent.items()]
    wall = time.time() - time.monotonic()
    arrived = {i: arrivals.get(i) for i in sent}
    return EndToEnd(
        offered=total,
        completed=sum(1 for i in sent if i in arrivals),
        errors=errors,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        post_p99_ms=percentile(answered, 99),
        timings={
            i: (due + wall, answered_at[i] + wall, None if a is None else a + wall)
            for i, due in sent.items()
            for a in (arrived[i],)
        },
    )
