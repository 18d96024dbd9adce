"""ORDERFLOW_FETCH_WAIT_MS reaches the workers' Kafka consumer (nothing
connects until the first poll, so no broker is needed here)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orderflow.adapters.kafka.consumer import KafkaMessageConsumer
from orderflow.bootstrap import bootstrap
from orderflow.config import Settings


def _consumer(**overrides: object) -> KafkaMessageConsumer:
    app = bootstrap(
        Settings(database_url="memory://", broker_url="kafka://127.0.0.1:9", cache_url="memory://"),
        **overrides,
    )
    consumer = app.container.consumer()
    assert isinstance(consumer, KafkaMessageConsumer)
    return consumer


def test_the_default_fetch_wait_is_short() -> None:
    assert _consumer().fetch_wait_ms == 20


def test_the_configured_fetch_wait_reaches_the_consumer() -> None:
    assert _consumer(fetch_wait_ms=500).fetch_wait_ms == 500


@pytest.mark.parametrize("value", ["0", "10001", "soon"])
def test_a_fetch_wait_out_of_range_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_FETCH_WAIT_MS", value)
    with pytest.raises(ValidationError, match="fetch_wait_ms"):
        Settings()
