"""A database that goes away in the middle of a unit of work, on MariaDB and
PostgreSQL behind a TCP proxy (tests.support.proxy): the unit of work
reports StorageUnavailable, the relay loop outlives the outage and drains
the outbox once the database is back, and a notification claim whose answer
the outage took is released and sent once.

The regression: leaving a unit of work whose connection the driver had lost
read that connection's `info`, which checks a new connection out of the
pool; with the database still down that raised a raw OperationalError (not
StorageUnavailable) out of the block, and the relay's thread died on it, so
the outbox was never drained again (fault suite, database outage scenario)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from dependency_injector import providers
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.broker import MemoryBroker, MemoryPublisher
from orderflow.adapters.memory.metrics import MemoryMetrics
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.migrate import upgrade
from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.adapters.system_clock import SystemClock
from orderflow.application.notifying import DeliveryPolicy, NotificationDispatcher
from orderflow.domain.errors import InfrastructureError, StorageUnavailable
from orderflow.domain.model import Product
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.notifier import DeliveryState, Notification, NotificationRecord
from orderflow.ports.outbox import OutboxMessage
from tests.support import services
from tests.support.proxy import TcpProxy
from tests.unit.conftest import place_command


@pytest.fixture(params=["mysql", "postgres"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A scratch database of its own (the session's is shared with other tests)."""
    database = services.scratch_database(request.getfixturevalue(f"{request.param}_url"))
    try:
        yield database.url
    finally:
        database.stop()


@pytest.fixture
def proxy(server_url: str) -> Iterator[TcpProxy]:
    server = make_url(server_url)
    default_port = 5432 if server.get_backend_name() == "postgresql" else 3306
    with TcpProxy(server.host or "127.0.0.1", server.port or default_port) as proxy:
        yield proxy


def through(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host=proxy.host, port=proxy.port).render_as_string(False)


def test_a_connection_lost_inside_a_unit_of_work_is_reported_as_storage_unavailable(
    server_url: str, proxy: TcpProxy
) -> None:
    url = through(server_url, proxy)
    upgrade(url)
    factory = SqlUnitOfWorkFactory.from_url(url)
    try:
        with pytest.raises(StorageUnavailable), factory() as uow:
            uow.outbox.pending_count()  # a live, checked-out connection
            proxy.outage()  # the server goes away with the transaction open
            uow.outbox.pending_count()
        # Still down: opening a unit of work fails the same way.
        with pytest.raises(StorageUnavailable), factory() as uow:
            uow.outbox.pending_count()
        proxy.resume()
        with factory() as uow:
            assert uow.outbox.pending_count() == 0
    finally:
        factory.close()


class CuttingPublisher(MessagePublisher):
    """Publishes to the memory broker; on the first publish it also takes the
    database away (the relay then marks the rows published on a dead
    connection, the moment the fault suite's outage hit)."""

    def __init__(self, inner: MessagePublisher, cut: Callable[[], object]) -> None:
        self._inner = inner
        self._cut: Callable[[], object] | None = cut

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        self._inner.publish(messages)
        cut, self._cut = self._cut, None
        if cut is not None:
            cut()


@pytest.fixture
def app(server_url: str, proxy: TcpProxy) -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url=through(server_url, proxy), notify_url="memory://")
    instance.migrate()
    instance.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("10.00"), 100)])
    yield instance
    instance.close()


def test_the_relay_loop_outlives_an_outage_in_the_middle_of_a_batch(
    app: Orderflow, proxy: TcpProxy
) -> None:
    broker = MemoryBroker()
    publisher = CuttingPublisher(MemoryPublisher(broker), proxy.outage)
    app.container.publisher.override(providers.Object(publisher))
    loop = app.new_relay_loop()
    before = [str(app.placement.place(place_command(("mouse", 1))).order["id"]) for _ in range(3)]
    thread = threading.Thread(target=loop.run, name="relay-under-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not proxy.refusing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.refusing, "the relay never published"
        time.sleep(1.0)  # the relay keeps failing against the dead database
        proxy.resume()
        after = [
            str(app.placement.place(place_command(("mouse", 1))).order["id"]) for _ in range(2)
        ]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and pending(app):
            time.sleep(0.1)
        assert thread.is_alive(), "the relay loop died in the outage"
        assert pending(app) == 0
        published = {m.decode() for m in broker.messages(app.topics.orders)}
        assert all(any(oid in m for m in published) for oid in before + after)
    finally:
        loop.stop()
        thread.join(10)


def pending(app: Orderflow) -> int:
    with app.uow_factory() as uow:
        return uow.outbox.pending_count()


class AnswerLosingLedger(SqlNotificationLedger):
    """Its first claim really commits; then the database goes away (the
    proxy cuts and refuses) and the claim raises as if the answer had been
    lost on the way back."""

    def __init__(self, engine: Engine, proxy: TcpProxy) -> None:
        super().__init__(engine)
        self._claiming = False
        self._lose_next = True
        dialect: Any = engine.dialect
        commit = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            commit(dbapi_connection)
            if self._claiming and self._lose_next:
                self._lose_next = False
                proxy.outage()
                raise dialect.loaded_dbapi.OperationalError("answer lost after COMMIT (injected)")

        dialect.do_commit = do_commit

    def claim_due(self, *, now: datetime, limit: int, token: str) -> list[NotificationRecord]:
        self._claiming = True
        try:
            return super().claim_due(now=now, limit=limit, token=token)
        finally:
            self._claiming = False


def test_a_notification_claim_whose_answer_is_lost_is_sent_once_after_the_outage(
    server_url: str, proxy: TcpProxy
) -> None:
    url = through(server_url, proxy)
    upgrade(url)
    engine, direct_engine = make_engine(url), make_engine(server_url)
    ledger = AnswerLosingLedger(engine, proxy)
    direct = SqlNotificationLedger(direct_engine)  # past the proxy: reads while it is down

    def states() -> set[DeliveryState | None]:
        return {r.state if r else None for r in (direct.get(i) for i, _ in items)}

    notifier = RecordingNotifier()
    clock = SystemClock()
    items = [
        (f"n{i}", Notification(f"order-{i}", "completed", f"c{i}@example.com", "s", "b"))
        for i in range(5)
    ]
    ledger.record(items, now=clock.now())
    dispatcher = NotificationDispatcher(
        ledger=ledger,
        notifier=notifier,
        clock=clock,
        metrics=MemoryMetrics(),
        policy=DeliveryPolicy(batch_size=50),
    )
    try:
        with pytest.raises(StorageUnavailable):
            dispatcher.dispatch_once()  # the claim committed, its answer lost
        with pytest.raises(StorageUnavailable):
            dispatcher.dispatch_once()  # the release, against the dead database
        assert states() == {DeliveryState.SENDING}
        proxy.resume()
        deadline = time.monotonic() + 10
        while len(notifier.sent) < 5 and time.monotonic() < deadline:
            try:
                dispatcher.dispatch_once()
            except InfrastructureError:  # the pool's dead connections
                time.sleep(0.1)
        assert sorted(n.order_id for n in notifier.sent) == [f"order-{i}" for i in range(5)]
        assert states() == {DeliveryState.SENT}
        assert dispatcher.dispatch_once() == 0
        assert len(notifier.sent) == 5
    finally:
        engine.dispose()
        direct_engine.dispose()
