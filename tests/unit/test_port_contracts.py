"""Notifier, Metrics and Clock contracts on the in-process adapters."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orderflow.adapters.logging_notifier import LoggingNotifier
from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.prometheus.metrics import PrometheusMetrics
from orderflow.adapters.system_clock import SystemClock
from orderflow.adapters.throttled_notifier import ThrottledNotifier
from orderflow.domain.errors import NotificationFailed
from orderflow.ports.clock import Clock
from orderflow.ports.metrics import Metrics, MetricSpec
from orderflow.ports.notifier import Notification, Notifier
from tests.contracts.clock_contract import ClockContract
from tests.contracts.metrics_contract import MetricsContract, Read
from tests.contracts.notifier_contract import NotifierContract
from tests.support.metrics import parse, value


class TestRecordingNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self) -> RecordingNotifier:
        return RecordingNotifier()

    @pytest.fixture
    def received(self, notifier: RecordingNotifier) -> Callable[[], list[tuple[str, str]]]:
        return lambda: [(n.order_id, n.status) for n in notifier.sent]

    @pytest.fixture
    def unreachable(self) -> Notifier | None:
        return None


class TestThrottledNotifier(NotifierContract):
    """The per-recipient limit, with room to spare, keeps the contract of
    what it wraps."""

    @pytest.fixture
    def inner(self) -> RecordingNotifier:
        return RecordingNotifier()

    @pytest.fixture
    def notifier(self, inner: RecordingNotifier) -> Notifier:
        return ThrottledNotifier(inner, limit="100/hour", storage_url="memory://")

    @pytest.fixture
    def received(self, inner: RecordingNotifier) -> Callable[[], list[tuple[str, str]]]:
        return lambda: [(n.order_id, n.status) for n in inner.sent]

    @pytest.fixture
    def unreachable(self) -> Notifier | None:
        return ThrottledNotifier(Unreachable(), limit="100/hour", storage_url="memory://")


class Unreachable(Notifier):
    def send(self, notification: Notification) -> None:
        raise NotificationFailed("nothing listens")


class TestLoggingNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self) -> Notifier:
        return LoggingNotifier()

    @pytest.fixture
    def received(self, caplog: pytest.LogCaptureFixture) -> Callable[[], list[tuple[str, str]]]:
        caplog.set_level("INFO", logger="orderflow.notifications")
        return lambda: [
            (r.order_id, r.status)  # type: ignore[attr-defined]
            for r in caplog.records
            if r.name == "orderflow.notifications"
        ]

    @pytest.fixture
    def unreachable(self) -> Notifier | None:
        return None


class TestMemoryMetrics(MetricsContract):
    @pytest.fixture
    def metrics(self) -> MemoryMetrics:
        return MemoryMetrics()

    @pytest.fixture
    def read(self, metrics: MemoryMetrics) -> Read:
        def read(metric: MetricSpec, labels: dict[str, str]) -> float:
            if metric.kind == "counter":
                return metrics.count(metric, **labels)
            if metric.kind == "gauge":
                return metrics.value(metric, **labels)
            return len(metrics.observations[(metric.name, tuple(sorted(labels.items())))])

        return read


class TestPrometheusMetrics(MetricsContract):
    @pytest.fixture
    def metrics(self) -> PrometheusMetrics:
        return PrometheusMetrics()

    @pytest.fixture
    def read(self, metrics: PrometheusMetrics) -> Read:
        def read(metric: MetricSpec, labels: dict[str, str]) -> float:
            samples = parse(metrics.exposition().decode())[0]
            name = metric.name + ("_count" if metric.kind == "histogram" else "")
            return value(samples, "orderflow_" + name, **labels)

        return read


class TestSystemClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return SystemClock()


def test_the_memory_metrics_is_a_metrics() -> None:
    assert isinstance(MemoryMetrics(), Metrics)
