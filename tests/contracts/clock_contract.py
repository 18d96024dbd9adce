"""The contract every Clock keeps: timezone-aware UTC, never going back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orderflow.ports.clock import Clock


class ClockContract:
    @pytest.fixture
    def clock(self) -> Clock:
        raise NotImplementedError

    def test_now_is_timezone_aware_utc(self, clock: Clock) -> None:
        assert clock.now().utcoffset() == timedelta(0)

    def test_now_does_not_go_backwards(self, clock: Clock) -> None:
        readings = [clock.now() for _ in range(1000)]
        assert readings == sorted(readings)
