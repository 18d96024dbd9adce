"""The composition root: what the container builds, and what it closes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy.pool import QueuePool

import orderflow
from orderflow.adapters.group_commit import GroupCommit
from orderflow.adapters.lock_timing import LockTimingUnitOfWorkFactory
from orderflow.adapters.memory.fallback_keys import MemoryFallbackKeys
from orderflow.adapters.memory.known_prices import MemoryKnownPrices
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from orderflow.adapters.resilient_cache import ResilientOrderCache
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.adapters.terminal_orders import TerminalOrderMemo
from orderflow.application.placing import OrderPlacement
from orderflow.domain.errors import InvalidInput
from orderflow.domain.model import Product
from orderflow.ports.placement import PlacementResult
from tests.unit.conftest import place_command


def test_closing_the_app_closes_the_database_pool_it_opened(tmp_path: Path) -> None:
    app = orderflow.bootstrap(database_url=f"sqlite:///{tmp_path}/shop.sqlite3")
    app.migrate()
    factory = app.uow_factory
    assert isinstance(factory, SqlUnitOfWorkFactory)
    with factory() as uow:
        uow.products.count()
    pool = factory.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedin() == 1  # a pooled connection, open

    app.close()

    assert pool.checkedin() == 0  # disposed: its connections closed
    assert app.uow_factory is not factory  # a later use opens a new pool


def test_the_decorators_are_composed_around_their_ports() -> None:
    app = orderflow.bootstrap(database_url="memory://")
    assert isinstance(app.placement, GroupCommit)
    assert isinstance(app.cache, ResilientOrderCache)
    assert isinstance(app.processor.uow_factory, LockTimingUnitOfWorkFactory)
    assert isinstance(app.queries.cache, TerminalOrderMemo)
    # Each is the same instance on every use (Singletons), so its state is shared.
    assert app.placement is app.placement
    app.close()


class CountingFactory(MemoryUnitOfWorkFactory):
    opened = 0

    def __call__(self) -> MemoryUnitOfWork:
        self.opened += 1
        return super().__call__()


def test_one_batch_is_one_transaction_and_each_command_gets_its_own_answer() -> None:
    app = orderflow.bootstrap(database_url="memory://")
    factory = CountingFactory(app.uow_factory.database)  # type: ignore[attr-defined]
    app.catalog.upsert_many([Product("pen", "Pen", "", Decimal("2.50"), 10)])
    placement = OrderPlacement(
        uow_factory=factory,
        clock=app.clock,
        metrics=app.metrics,
        topics=app.topics,
        known_prices=MemoryKnownPrices(),
        id_secret=b"a server secret of at least 32 bytes",
        fallback_keys=MemoryFallbackKeys(clock=app.clock),
    )
    outcomes = placement.place_all(
        [
            place_command(("pen", 1)),
            place_command(("nothing-by-this-name", 1)),
            place_command(("pen", 2), key="k"),
            place_command(("pen", 2), key="k"),  # the same key again: a replay
        ]
    )

    first, unknown, keyed, replayed = outcomes
    assert isinstance(first, PlacementResult) and first.created
    assert isinstance(unknown, InvalidInput) and unknown.field == "items[0].product_id"
    assert isinstance(keyed, PlacementResult) and keyed.created
    assert isinstance(replayed, PlacementResult) and not replayed.created
    assert replayed.order == keyed.order
    # The batch in one unit of work; the repeated key after it, to replay.
    assert factory.opened == 2
    app.close()
