"""What every outbox doorbell promises (ports/outbox_signal.py): a ring wakes
the waiter at once, rings between waits are kept as one, no ring means the
whole timeout, and an unreachable doorbell neither raises nor spins."""

from __future__ import annotations

import threading
import time

import pytest

from orderflow.ports.outbox_signal import OutboxSignal

SHORT_S = 0.2
LONG_S = 5.0


class OutboxSignalContract:
    @pytest.fixture
    def signal(self) -> OutboxSignal:
        raise NotImplementedError

    @pytest.fixture
    def unreachable_signal(self) -> OutboxSignal:
        raise NotImplementedError

    def test_without_a_ring_a_wait_lasts_its_timeout(self, signal: OutboxSignal) -> None:
        signal.wait(SHORT_S)  # the first wait may subscribe, and see that
        started = time.monotonic()
        assert signal.wait(SHORT_S) is False
        assert time.monotonic() - started >= SHORT_S * 0.8

    def test_a_ring_from_another_thread_wakes_the_waiter_at_once(
        self, signal: OutboxSignal
    ) -> None:
        signal.wait(0.01)
        ringer = threading.Timer(0.1, signal.ring)
        ringer.start()
        started = time.monotonic()
        try:
            assert signal.wait(LONG_S) is True
        finally:
            ringer.cancel()
        assert time.monotonic() - started < LONG_S / 2

    def test_rings_between_waits_are_kept_as_one(self, signal: OutboxSignal) -> None:
        signal.wait(0.01)
        for _ in range(5):
            signal.ring()
        time.sleep(0.1)  # a ring across processes takes a moment to arrive

        started = time.monotonic()
        assert signal.wait(LONG_S) is True
        assert time.monotonic() - started < LONG_S / 2
        assert signal.wait(SHORT_S) is False

    def test_an_unreachable_doorbell_neither_raises_nor_spins(
        self, unreachable_signal: OutboxSignal
    ) -> None:
        unreachable_signal.ring()
        started = time.monotonic()
        assert unreachable_signal.wait(SHORT_S) is False
        assert time.monotonic() - started >= SHORT_S * 0.8
