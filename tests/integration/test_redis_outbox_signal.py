"""The outbox doorbell on Redis pub/sub against the contract: two clients,
as the API (ringing) and the relay (waiting) are two processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from orderflow.adapters.redis.outbox_signal import RedisOutboxSignal
from orderflow.ports.outbox_signal import OutboxSignal
from tests.contracts.outbox_signal_contract import OutboxSignalContract
from tests.support.processes import free_port


class _TwoClients(OutboxSignal):
    """Rings through one connection, waits on another."""

    def __init__(self, ringer: RedisOutboxSignal, waiter: RedisOutboxSignal) -> None:
        self._ringer = ringer
        self._waiter = waiter

    def ring(self) -> None:
        self._ringer.ring()

    def wait(self, timeout_s: float) -> bool:
        return self._waiter.wait(timeout_s)

    def close(self) -> None:
        self._ringer.close()
        self._waiter.close()


class TestRedisOutboxSignal(OutboxSignalContract):
    @pytest.fixture
    def signal(self, redis_url: str) -> Iterator[OutboxSignal]:
        channel = f"orderflow:outbox:test-{uuid.uuid4().hex}"
        signal = _TwoClients(
            RedisOutboxSignal.from_url(redis_url, channel=channel),
            RedisOutboxSignal.from_url(redis_url, channel=channel),
        )
        yield signal
        signal.close()

    @pytest.fixture
    def unreachable_signal(self) -> Iterator[OutboxSignal]:
        signal = RedisOutboxSignal.from_url(f"redis://127.0.0.1:{free_port()}/0", channel="x")
        yield signal
        signal.close()
