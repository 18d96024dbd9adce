"""The outbox doorbell across processes, on Redis pub/sub: the API and the
workers PUBLISH on commit, the relay (another process) is SUBSCRIBEd.

Pub/sub keeps nothing: a ring while the relay is not subscribed is lost,
which the port allows (the relay still polls). Redis errors are logged and
swallowed on both sides for the same reason.

A ring costs its caller no round trip: it wakes this process's publishing
thread, which PUBLISHes once for every ring that came while it was busy.
Under load that is one message per round trip to Redis, not one per
commit, and a request's answer never waits on Redis."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import redis
from redis.client import PubSub
from redis.exceptions import RedisError

from orderflow.ports.outbox_signal import OutboxSignal

log = logging.getLogger(__name__)


class RedisOutboxSignal(OutboxSignal):
    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._pubsub: PubSub | None = None
        self._lock = threading.Lock()  # one waiter at a time on the subscription
        self._rung = threading.Event()
        self._closed = False
        self._publisher: threading.Thread | None = None
        self._publisher_pid = 0  # a thread does not survive a fork: one per process
        self._publisher_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, channel: str) -> RedisOutboxSignal:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, channel)

    def ring(self) -> None:
        self._rung.set()
        if self._publisher_pid != os.getpid():
            self._start_publisher()

    def _start_publisher(self) -> None:
        with self._publisher_lock:
            if self._publisher_pid == os.getpid() or self._closed:
                return
            self._publisher = threading.Thread(
                target=self._publish_rings, name="outbox-doorbell", daemon=True
            )
            self._publisher.start()
            self._publisher_pid = os.getpid()

    def _publish_rings(self) -> None:
        while True:
            self._rung.wait()
            if self._closed:
                return
            self._rung.clear()  # rings from here on make one more message
            try:
                self._client.publish(self._channel, b"1")
            except RedisError as exc:
                log.debug("outbox doorbell not rung: %s", exc)

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            try:
                pubsub = self._subscribed()
                rung = pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
                # Rings that queued up meanwhile are one ring: the relay drains
                # everything committed so far in its next pass.
                while rung is not None and pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=0
                ):
                    pass
                return rung is not None
            except RedisError as exc:
                log.debug("outbox doorbell unreachable: %s", exc)
                self._reset()
        time.sleep(max(0.0, deadline - time.monotonic()))
        return False

    def close(self) -> None:
        self._closed = True
        self._rung.set()
        publisher = self._publisher
        if publisher is not None and publisher.is_alive():
            publisher.join(timeout=1.0)
        with self._lock:
            self._reset()
        self._client.close()

    def _subscribed(self) -> PubSub:
        if self._pubsub is None:
            pubsub = self._client.pubsub()
            pubsub.subscribe(self._channel)
            self._pubsub = pubsub
        return self._pubsub

    def _reset(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                self._pubsub.close()
            self._pubsub = None
