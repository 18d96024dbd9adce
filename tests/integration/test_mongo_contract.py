"""The persistence contract against MongoDB, plus what the Mongo adapter adds.

The server is the session's `mongo_url` (conftest.py): ORDERFLOW_TEST_MONGO_URL
when set (a real MongoDB, e.g. compose.yaml's), else a mongoeco wire server.
This module works in a database of its own (`orderflow_test_<random>`),
dropped afterwards. A server that cannot be reached fails these tests: they
never skip. The wire server takes about 10 ms a write, so tests stay small."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo.collection import Collection

import orderflow
from orderflow.adapters.mongo import unit_of_work as mongo_uow
from orderflow.adapters.mongo.api_keys import MongoApiKeyStore
from orderflow.adapters.mongo.client import make_client
from orderflow.adapters.mongo.documents import EMBEDDED_OUTBOX, HOLDS, LOCK_OWNER, Document
from orderflow.adapters.mongo.migrate import INDEXES, ensure_indexes
from orderflow.adapters.mongo.notification_ledger import MongoNotificationLedger
from orderflow.adapters.mongo.store import Timings
from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory
from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.errors import (
    ConcurrentUpdate,
    InsufficientStock,
    ProductNotFound,
    StorageUnavailable,
)
from orderflow.domain.inventory import reserve
from orderflow.domain.model import Customer, Order, OrderLine, OrderStatus, PaymentMethod
from orderflow.ports.api_keys import ApiKeyStore
from orderflow.ports.notifier import NotificationLedger
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.contracts.cancellation_contract import STOCK, CancellationContract, Shop
from tests.contracts.notification_ledger_contract import NotificationLedgerContract
from tests.contracts.notification_staging_contract import NotificationStagingContract
from tests.contracts.persistence_contract import (
    T0,
    PersistenceContract,
    a_message,
    a_product,
    a_record,
    an_order,
    run_together,
)
from tests.contracts.row_locking_contract import RowLockingContract
from tests.unit.journey import drain

pytestmark = pytest.mark.integration

OPERATORS: list[Any] = [{"$gt": ""}, {"$ne": None}, {"$regex": ".*"}, {"$where": "true"}]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def database_url(mongo_url: str) -> Iterator[str]:
    name = f"orderflow_test_{uuid.uuid4().hex[:12]}"
    url = with_database(mongo_url, name)
    ensure_indexes(url)
    yield url
    client = make_client(url)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture(scope="module")
def mongo_factory(database_url: str) -> Iterator[MongoUnitOfWorkFactory]:
    factory = MongoUnitOfWorkFactory.from_url(database_url)
    yield factory
    factory.close()


def raw(collection: Collection[Document], doc_id: str) -> Document:
    """The stored document as it is, internal fields and all."""
    doc = collection.find_one({"_id": doc_id})
    assert doc is not None, f"{collection.name} {doc_id} is missing"
    return doc


def clear(factory: MongoUnitOfWorkFactory) -> None:
    for collection in factory.store.db.list_collection_names():
        factory.store.db[collection].delete_many({})


class _Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


def crash_before_the_order_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next commit die after its stock and key writes, before the
    order's write: no undo, no release (a dead process does neither)."""

    def die(*_: Any) -> NoReturn:
        raise _Crash

    monkeypatch.setattr(mongo_uow._Commit, "_write_orders", die)
    monkeypatch.setattr(mongo_uow._Commit, "_undo", lambda self: None)
    monkeypatch.setattr(mongo_uow, "_release", lambda *args, **kwargs: None)


class TestMongoPersistence(PersistenceContract, RowLockingContract, CancellationContract):
    @pytest.fixture
    def uow_factory(self, mongo_factory: MongoUnitOfWorkFactory) -> MongoUnitOfWorkFactory:
        clear(mongo_factory)
        return mongo_factory

    @pytest.fixture
    def short_leases(self, database_url: str) -> Iterator[MongoUnitOfWorkFactory]:
        """A second factory on the same database whose locks lapse quickly."""
        factory = MongoUnitOfWorkFactory.from_url(
            database_url,
            timings=Timings(
                lock_lease=timedelta(seconds=0.3),
                lock_wait=timedelta(seconds=2),
                claim_lease=timedelta(seconds=1),
                abandon_after=timedelta(seconds=0.5),
            ),
        )
        yield factory
        factory.close()

    # --- injection ---------------------------------------------------------------

    @pytest.mark.parametrize("operator", OPERATORS, ids=lambda op: next(iter(op)))
    def test_operator_objects_as_ids_or_text_find_nothing_and_raise_nothing(
        self, uow_factory: MongoUnitOfWorkFactory, operator: Any
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            uow.idempotency.add(a_record("key-1"))
            uow.commit()

        with uow_factory() as uow:
            assert uow.orders.get(operator) is None
            assert uow.orders.get_for_update(operator) is None
            assert uow.products.get(operator) is None
            assert uow.products.get_by_name(operator) is None
            assert uow.products.get_many_for_update([operator]) == {}
            assert uow.idempotency.get(operator) is None
            assert uow.products.search(text=operator, limit=10, offset=0).total == 0
            assert uow.products.search(text=str(operator), limit=10, offset=0).total == 0

    # --- indexes -------------------------------------------------------------------

    def test_ensure_indexes_is_idempotent_and_creates_every_index(
        self, uow_factory: MongoUnitOfWorkFactory, database_url: str
    ) -> None:
        ensure_indexes(database_url)
        ensure_indexes(database_url)
        db = uow_factory.store.db
        for collection, models in INDEXES.items():
            names = {index["name"] for index in db[collection].list_indexes()}
            assert {model.document["name"] for model in models} <= names
        [message_id] = [
            index for index in db["outbox"].list_indexes() if index["name"] == "message_id"
        ]
        assert message_id["unique"] is True

    # --- locks -----------------------------------------------------------------------

    def test_a_dead_holders_lock_lapses_with_its_lease(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        dead = short_leases()
        dead.__enter__()  # never left: the process "died" holding the lock
        assert dead.orders.get_for_update(order.id) is not None

        started = time.monotonic()
        with short_leases() as uow:
            assert uow.orders.get_for_update(order.id) is not None
        assert 0.1 < time.monotonic() - started < 2

    def test_a_lock_held_longer_than_the_wait_is_a_concurrent_update(
        self, uow_factory: MongoUnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        impatient = MongoUnitOfWorkFactory(
            replace(uow_factory.store, timings=Timings(lock_wait=timedelta(seconds=0.2)))
        )
        with uow_factory() as holder:
            assert holder.orders.get_for_update(order.id) is not None
            with pytest.raises(ConcurrentUpdate), impatient() as uow:
                uow.orders.get_for_update(order.id)
        with impatient() as uow:  # released when the holder's block ended
            assert uow.orders.get_for_update(order.id) is not None

    # --- crashes in the middle of a commit ----------------------------------------------

    def test_stock_taken_before_a_crash_is_not_taken_again_by_the_retry(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> None:
        order = self._crashed_mid_processing(uow_factory, short_leases)
        assert self._stock(uow_factory) == 3  # taken, and held for the order

        time.sleep(0.4)  # the dead worker's locks lapse
        assert self._finish(short_leases, order.id) is OrderStatus.COMPLETED
        assert self._stock(uow_factory) == 3  # not 1
        assert raw(uow_factory.store.products, "laptop")[HOLDS] == []

    def test_stock_held_before_a_crash_goes_back_when_the_retry_fails_the_order(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> None:
        order = self._crashed_mid_processing(uow_factory, short_leases)
        time.sleep(0.4)
        with uow_factory() as uow:  # meanwhile someone else's order emptied the shelf
            laptop = uow.products.get_many_for_update(["laptop"])["laptop"]
            laptop.take(3)
            uow.products.save(laptop)
            uow.commit()

        assert self._finish(short_leases, order.id, also_want="mouse") is OrderStatus.FAILED
        assert self._stock(uow_factory) == 2  # the crashed attempt's 2 came back

    def test_stock_given_back_before_a_crash_is_not_given_again_by_the_retried_cancel(
        self,
        uow_factory: MongoUnitOfWorkFactory,
        short_leases: MongoUnitOfWorkFactory,
        shop: Shop,
    ) -> None:
        [order] = shop.place()
        shop.deliver(order)
        before = shop.stock()
        retrying = Shop(short_leases)
        with pytest.MonkeyPatch.context() as patch:
            crash_before_the_order_write(patch)
            with pytest.raises(_Crash):
                retrying.cancel(order.id)
        assert shop.stored(order.id).status is OrderStatus.COMPLETED
        given = shop.stock()
        assert given == STOCK  # given back already, marked as this order's give
        with uow_factory() as uow:  # another unit of work does not settle it
            uow.products.get_many_for_update(["laptop", "mouse"])
        assert raw(uow_factory.store.products, "laptop")[HOLDS] != []

        time.sleep(0.4)  # the dead request's lock on the order lapses
        cancelled = retrying.cancel(order.id)

        assert cancelled.restocked == {"laptop": 1, "mouse": 3}
        assert shop.stock() == STOCK != before  # given once, not twice
        assert raw(uow_factory.store.products, "mouse")[HOLDS] == []

    def test_stock_held_by_a_crashed_attempt_goes_back_when_the_order_is_cancelled(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> None:
        order = self._crashed_mid_processing(uow_factory, short_leases)
        assert self._stock(uow_factory) == 3  # taken, held for the order still processing

        time.sleep(0.4)  # the dead worker's locks lapse
        cancelled = Shop(short_leases).cancel(order.id)

        assert cancelled.restocked == {}  # it never completed...
        assert self._stock(uow_factory) == 5  # ...and what the crash left holding came back
        assert raw(uow_factory.store.products, "laptop")[HOLDS] == []

    def test_an_idempotency_key_whose_order_never_arrived_is_freed_after_a_while(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> None:
        order = an_order()
        record = replace(a_record("key-1"), order_id=order.id)
        with pytest.MonkeyPatch.context() as patch:
            crash_before_the_order_write(patch)
            with pytest.raises(_Crash), short_leases() as uow:
                uow.orders.add(order)
                uow.idempotency.add(record)
                uow.commit()

        impatient = MongoUnitOfWorkFactory(
            replace(
                short_leases.store,
                timings=replace(short_leases.store.timings, lock_wait=timedelta(seconds=0.1)),
            )
        )
        with pytest.raises(ConcurrentUpdate), impatient() as uow:
            uow.idempotency.get("key-1")  # maybe still committing: wait, then give up
        time.sleep(0.5)
        with short_leases() as uow:
            assert uow.idempotency.get("key-1") is None  # abandoned: the key is free
            uow.orders.add(order)
            uow.idempotency.add(record)
            uow.commit()
        with uow_factory() as uow:
            assert uow.idempotency.get("key-1") == record

    def test_a_pending_idempotency_key_whose_order_exists_counts_as_committed(
        self, uow_factory: MongoUnitOfWorkFactory
    ) -> None:
        order = an_order()
        record = replace(a_record("key-1"), order_id=order.id)
        with pytest.MonkeyPatch.context() as patch:
            # Die after the order's write, before the key's pending mark is cleared.
            patch.setattr(mongo_uow._Commit, "_clean_up", lambda self: None)
            with uow_factory() as uow:
                uow.orders.add(order)
                uow.idempotency.add(record)
                uow.commit()
        assert raw(uow_factory.store.idempotency, "key-1")["pending"]
        with uow_factory() as uow:
            assert uow.idempotency.get("key-1") == record
        assert "pending" not in raw(uow_factory.store.idempotency, "key-1")

    # --- the outbox ----------------------------------------------------------------------

    def test_an_orders_messages_travel_inside_its_document_until_the_relay_moves_them(
        self, uow_factory: MongoUnitOfWorkFactory
    ) -> None:
        order = an_order()
        message = replace(a_message(1), key=order.id)
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.outbox.add([message])
            uow.commit()
        store = uow_factory.store
        assert store.outbox.count_documents({}) == 0
        assert len(raw(store.orders, order.id)[EMBEDDED_OUTBOX]) == 1

        with uow_factory() as uow:
            assert uow.outbox.pending_count() == 1
            [claimed] = uow.outbox.claim_batch(limit=10)
        assert replace(claimed, seq=None) == message
        assert raw(store.orders, order.id)[EMBEDDED_OUTBOX] == []
        with uow_factory() as uow:
            assert uow.outbox.pending_count() == 1  # claimed, not published

    def test_moving_a_message_twice_leaves_one_copy(
        self, uow_factory: MongoUnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.outbox.add([replace(a_message(1), key=order.id)])
            uow.commit()
        store = uow_factory.store
        embedded = raw(store.orders, order.id)[EMBEDDED_OUTBOX]
        store.outbox.insert_many(embedded)  # a relay that died before its $pull

        with uow_factory() as uow:
            assert uow.outbox.pending_count() == 2  # counted twice until moved ...
            assert len(uow.outbox.claim_batch(limit=10)) == 1  # ... published once
        assert store.outbox.count_documents({}) == 1

    def test_a_dead_relays_claims_lapse(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.outbox.add([a_message(1)])
            uow.commit()
        dead = short_leases()
        dead.__enter__()
        assert len(dead.outbox.claim_batch(limit=10)) == 1
        with short_leases() as uow:
            assert uow.outbox.claim_batch(limit=10) == []
        time.sleep(1.1)
        with short_leases() as uow:
            assert len(uow.outbox.claim_batch(limit=10)) == 1

    def test_concurrent_placements_all_commit(self, uow_factory: MongoUnitOfWorkFactory) -> None:
        # No multi-document transaction means no write conflicts between them.
        def place() -> str:
            order = an_order()
            with uow_factory() as uow:
                uow.orders.add(order)
                uow.outbox.add([replace(a_message(1), key=order.id)])
                uow.commit()
            return order.id

        placed = run_together(8, place)
        with uow_factory() as uow:
            assert all(uow.orders.get(order_id) is not None for order_id in placed)
            seqs = [m.seq for m in uow.outbox.claim_batch(limit=20)]
        assert len(seqs) == len(set(seqs)) == 8

    # --- the server --------------------------------------------------------------------

    def test_ping_answers(self, uow_factory: MongoUnitOfWorkFactory) -> None:
        uow_factory.ping()

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _processing_order(
        uow_factory: MongoUnitOfWorkFactory, *, stock: int, quantity: int
    ) -> Order:
        order = an_order(lines=(OrderLine("laptop", quantity, Decimal("999.00")),))
        order.start_processing(T0)
        with uow_factory() as uow:
            uow.products.upsert(a_product(stock=stock))
            uow.orders.add(order)
            uow.commit()
        return order

    def _crashed_mid_processing(
        self, uow_factory: MongoUnitOfWorkFactory, short_leases: MongoUnitOfWorkFactory
    ) -> Order:
        """An order for 2 of 5 laptops whose processing died after taking
        the stock (held for it) and before the order's write."""
        order = self._processing_order(uow_factory, stock=5, quantity=2)
        with pytest.MonkeyPatch.context() as patch:
            crash_before_the_order_write(patch)
            with pytest.raises(_Crash):
                self._finish(short_leases, order.id)
        return order

    @staticmethod
    def _finish(
        factory: MongoUnitOfWorkFactory, order_id: str, *, also_want: str | None = None
    ) -> OrderStatus:
        """What OrderProcessor._finish does, with an optional unknown product."""
        with factory() as uow:
            order = uow.orders.get_for_update(order_id)
            assert order is not None
            wanted = order.quantities()
            if also_want:
                wanted[also_want] = 1
            products = uow.products.get_many_for_update(sorted(wanted))
            now = T0 + timedelta(minutes=1)
            try:
                reserve(products, wanted)
            except (InsufficientStock, ProductNotFound) as exc:
                order.fail(str(exc), now)
            else:
                for product_id in sorted(wanted):
                    uow.products.save(products[product_id])
                order.complete(now)
            uow.orders.save(order)
            uow.commit()
            return order.status

    @staticmethod
    def _stock(factory: MongoUnitOfWorkFactory) -> int:
        with factory() as uow:
            product = uow.products.get("laptop")
            assert product is not None
            return product.stock


def test_the_services_place_process_and_relay_an_order_end_to_end(database_url: str) -> None:
    app = orderflow.bootstrap(database_url=database_url)
    try:
        factory = app.uow_factory
        assert isinstance(factory, MongoUnitOfWorkFactory)
        clear(factory)
        app.catalog.upsert_many([a_product(stock=3)])
        command = PlaceOrder(
            customer=Customer("Ada", "ada@example.com", "London"),
            items=(LineRequest("laptop", 2),),
            payment_method=PaymentMethod.CARD,
            idempotency_key="retry-me",
        )
        first = app.placement.place(command)
        again = app.placement.place(command)
        assert (first.created, again.created) == (True, False)
        assert again.order == first.order

        drain(app)

        order = app.queries.get(str(first.order["id"]))
        assert order.status is OrderStatus.COMPLETED
        assert app.catalog.get("laptop").stock == 1
        with app.uow_factory() as uow:
            assert uow.outbox.pending_count() == 0
        assert factory.store.orders.count_documents({LOCK_OWNER: {"$ne": None}}) == 0
        assert factory.store.products.count_documents({LOCK_OWNER: {"$ne": None}}) == 0
    finally:
        app.close()


def test_an_unreachable_server_is_storage_unavailable() -> None:
    factory = MongoUnitOfWorkFactory.from_url(
        "mongodb://127.0.0.1:1/orderflow", serverSelectionTimeoutMS=300
    )
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable), factory() as uow:
            uow.orders.get("x")
        with pytest.raises(StorageUnavailable):
            factory.ping()
        assert time.monotonic() - started < 5
    finally:
        factory.close()


def test_the_database_comes_from_the_url_path() -> None:
    named = MongoUnitOfWorkFactory.from_url("mongodb://127.0.0.1:1/shop")
    default = MongoUnitOfWorkFactory.from_url("mongodb://127.0.0.1:1/")
    try:
        assert named.store.db.name == "shop"
        assert default.store.db.name == "orderflow"
    finally:
        named.close()
        default.close()


class TestMongoNotificationLedger(NotificationLedgerContract):
    @pytest.fixture
    def ledger(self, mongo_factory: MongoUnitOfWorkFactory) -> NotificationLedger:
        clear(mongo_factory)
        return MongoNotificationLedger(mongo_factory.store)


class TestMongoNotificationStaging(NotificationStagingContract):
    @pytest.fixture
    def uow_factory(self, mongo_factory: MongoUnitOfWorkFactory) -> UnitOfWorkFactory:
        clear(mongo_factory)
        return mongo_factory

    @pytest.fixture
    def ledger(self, mongo_factory: MongoUnitOfWorkFactory) -> NotificationLedger:
        return MongoNotificationLedger(mongo_factory.store)


class TestMongoApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_key_store(self, mongo_factory: MongoUnitOfWorkFactory) -> ApiKeyStore:
        clear(mongo_factory)
        return MongoApiKeyStore(mongo_factory.store)
