"""The messaging contract against the in-process broker, plus its shutdown:
a closed broker refuses every call, as a closed connection would."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from orderflow.adapters.memory.broker import MemoryBroker, MemoryConsumer, MemoryPublisher
from orderflow.domain.errors import BrokerUnavailable
from orderflow.ports.messaging import MessageConsumer, MessagePublisher
from tests.contracts.messaging_contract import ConsumerFactory, MessagingContract, message


class TestMemoryMessaging(MessagingContract):
    @pytest.fixture
    def broker(self) -> MemoryBroker:
        return MemoryBroker()

    @pytest.fixture
    def publisher(self, broker: MemoryBroker) -> MessagePublisher:
        return MemoryPublisher(broker)

    @pytest.fixture
    def topic(self) -> str:
        return "contract"

    @pytest.fixture
    def consumer_factory(self, broker: MemoryBroker) -> ConsumerFactory:
        def make(*, topic: str, group: str) -> MessageConsumer:
            return MemoryConsumer(broker, group=group, topics=[topic])

        return make

    @pytest.fixture
    def unreachable_publisher(self) -> MessagePublisher:
        broker = MemoryBroker()
        broker.close()
        return MemoryPublisher(broker)


def test_a_closed_broker_refuses_every_call() -> None:
    broker = MemoryBroker()
    consumer = MemoryConsumer(broker, group="g", topics=["t"])
    MemoryPublisher(broker).publish([message("t", "order-1", 1)])
    [delivery] = consumer.poll(max_messages=1, timeout_s=0)

    broker.close()

    calls: list[Callable[[], object]] = [
        lambda: MemoryPublisher(broker).publish([message("t", "order-1", 2)]),
        lambda: MemoryPublisher(broker).ping(),
        lambda: consumer.poll(max_messages=1, timeout_s=0),
        lambda: consumer.commit([delivery]),
        lambda: consumer.commit_with(messages=[], deliveries=[delivery]),
        lambda: MemoryConsumer(broker, group="g", topics=["t"]),
        lambda: broker.messages("t"),
        lambda: broker.lag("g", "t"),
    ]
    for call in calls:
        with pytest.raises(BrokerUnavailable):
            call()
    consumer.close()  # leaving a closed broker is fine


def test_closing_the_broker_wakes_a_waiting_poll() -> None:
    broker = MemoryBroker()
    consumer = MemoryConsumer(broker, group="g", topics=["t"])
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            consumer.poll(max_messages=1, timeout_s=30)
        except BrokerUnavailable as exc:
            errors.append(exc)

    waiting = threading.Thread(target=poll)
    waiting.start()
    broker.close()
    waiting.join(5)

    assert not waiting.is_alive()
    assert len(errors) == 1
