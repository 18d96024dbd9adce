"""The contract every UnitOfWork adapter keeps, whatever stores the data.

Subclass PersistenceContract in a module named test_*.py and provide a
`uow_factory` fixture that returns a factory over an EMPTY store (the tests
count rows). The memory adapter defines the reference semantics; every other
adapter must pass the same tests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow.domain.errors import DuplicateKey, InsufficientStock
from orderflow.domain.model import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Product,
    Transition,
)
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.outbox import OutboxMessage
from orderflow.ports.repositories import SEARCH_COUNT_CAP
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.search_reference import as_product, check_pages, realistic_catalog

T = TypeVar("T")

# Microseconds on purpose: MySQL's DATETIME drops them unless declared DATETIME(6).
T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)

# Search fixtures: names full of characters that mean something to LIKE,
# regular expressions, SQL string literals or MongoDB queries.
TRICKY_CATALOG = [
    ("p01", "Alpha", "first letter"),
    ("p02", "alphabet soup", "letters in broth"),
    ("p03", "100% cotton", "a shirt"),
    ("p04", "snake_case", "naming style"),
    ("p05", "back\\slash", "a path separator"),
    ("p06", "path/to", "forward slash"),
    ("p07", "Beta", "second letter: alpha's successor"),
    ("p08", "a.b*c", "regex metacharacters"),
    ("p09", '{"$gt": ""}', "a MongoDB operator"),
    ("p10", "ALPHA_1", "shouting"),
    ("p11", "O'Brien", "apostrophe"),
    ("p12", "Alpha", "a second Alpha, higher id"),
]


def an_order(
    order_id: str | None = None,
    *,
    status: OrderStatus = OrderStatus.PENDING,
    created_at: datetime = T0,
    updated_at: datetime | None = None,
    lines: tuple[OrderLine, ...] | None = None,
) -> Order:
    return Order(
        id=order_id or str(uuid.uuid4()),
        customer=Customer("Ada Lovelace", "ada@example.com", "12 Analytical St\nLondon"),
        items=lines or (OrderLine("laptop", 1, Decimal("999.00")),),
        payment_method=PaymentMethod.CARD,
        status=status,
        created_at=created_at,
        updated_at=updated_at or created_at,
    )


def a_product(
    product_id: str = "laptop",
    *,
    name: str = "Laptop",
    description: str = "A fast laptop",
    price: Decimal = Decimal("999.00"),
    stock: int = 10,
) -> Product:
    return Product(product_id, name, description, price, stock)


def a_message(n: int, *, created_at: datetime = T0) -> OutboxMessage:
    return OutboxMessage(
        message_id=str(uuid.uuid4()),
        topic="orders",
        key=f"order-{n}",
        type_name="OrderPlaced",
        payload={"n": n, "total": "12.30", "nested": {"items": [1, 2, 3]}, "none": None},
        created_at=created_at,
        # Odd ones carry a trace context, which must come back as it went in.
        headers={"traceparent": f"00-{n:032x}-{n + 1:016x}-01"} if n % 2 else {},
    )


def a_record(key: str, *, created_at: datetime = T0) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key,
        fingerprint="f" * 64,
        order_id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        response={"id": "x", "total": "1.00", "items": [{"quantity": 1}]},
        created_at=created_at,
    )


def assert_same_order(actual: Order | None, expected: Order) -> None:
    """Order compares by identity, so compare every stored field."""
    assert actual is not None
    assert actual.id == expected.id
    assert actual.customer == expected.customer
    assert actual.items == expected.items
    for got, want in zip(actual.items, expected.items, strict=True):
        assert isinstance(got.unit_price, Decimal)
        assert str(got.unit_price) == str(want.unit_price)  # same places, too
    assert actual.payment_method is expected.payment_method
    assert actual.status is expected.status
    assert actual.failure_reason == expected.failure_reason
    assert actual.total == expected.total
    assert actual.version == expected.version
    assert actual.history == expected.history
    assert actual.owner == expected.owner
    assert actual.access_token_digest == expected.access_token_digest
    for got_at, want_at in (
        (actual.created_at, expected.created_at),
        (actual.updated_at, expected.updated_at),
    ):
        assert got_at.utcoffset() is not None, "datetimes come back timezone-aware"
        assert got_at == want_at
        assert got_at.microsecond == want_at.astimezone(UTC).microsecond


def assert_same_product(actual: Product | None, expected: Product) -> None:
    assert actual is not None
    assert actual.to_dict() == expected.to_dict()
    assert isinstance(actual.price, Decimal)


def run_together(workers: int, task: Callable[[], T]) -> list[T]:
    """Run `task` in `workers` threads released at the same moment."""
    barrier = threading.Barrier(workers)

    def start() -> T:
        barrier.wait(timeout=30)
        return task()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(start) for _ in range(workers)]
        return [future.result(timeout=120) for future in futures]


_safe_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
_offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
_aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_offsets
)
_lines = st.builds(
    OrderLine,
    product_id=st.text(
        st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=64
    ),
    quantity=st.integers(min_value=1, max_value=1000),
    unit_price=st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2),
)
orders_strategy = st.builds(
    Order,
    id=st.just("replaced-by-the-test"),
    customer=st.builds(Customer, name=_safe_text, email=_safe_text, address=_safe_text),
    items=st.lists(_lines, min_size=1, max_size=5).map(tuple),
    payment_method=st.sampled_from(PaymentMethod),
    status=st.sampled_from(OrderStatus),
    created_at=_aware_datetimes,
    updated_at=_aware_datetimes,
    failure_reason=st.none() | _safe_text,
    version=st.integers(min_value=1, max_value=1_000_000),
    owner=st.none() | _safe_text.map(lambda text: f"customer:{text}"[:255]),
    access_token_digest=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
)


# The examples of one test share the adapter (a fixture), and the same test
# runs once per adapter subclass: both are intended.
_SHARED_FIXTURE_OK = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.differing_executors,
    HealthCheck.too_slow,
]


class PersistenceContract:
    """Subclasses override the `uow_factory` fixture."""

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("subclasses provide the adapter under test")

    # --- the unit of work ----------------------------------------------------

    def test_committed_changes_are_visible_to_the_next_unit_of_work(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            uow.outbox.add([a_message(1)])
            uow.idempotency.add(a_record("key-1"))
            uow.commit()

        with uow_factory() as uow:
            assert_same_order(uow.orders.get(order.id), order)
            assert_same_product(uow.products.get("laptop"), a_product())
            assert uow.outbox.pending_count() == 1
            assert uow.idempotency.get("key-1") == a_record("key-1")

    def test_a_reading_unit_of_work_sees_what_was_committed(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            uow.commit()

        with uow_factory.reading() as uow:
            assert_same_order(uow.orders.get(order.id), order)
            assert_same_product(uow.products.get("laptop"), a_product())

    def test_leaving_the_block_without_commit_keeps_nothing(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            uow.outbox.add([a_message(1)])
            uow.idempotency.add(a_record("key-1"))

        self._assert_empty(uow_factory, order.id)

    def test_an_error_in_the_block_rolls_back(self, uow_factory: UnitOfWorkFactory) -> None:
        order = an_order()
        with pytest.raises(RuntimeError, match="boom"), uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            uow.outbox.add([a_message(1)])
            uow.idempotency.add(a_record("key-1"))
            raise RuntimeError("boom")

        self._assert_empty(uow_factory, order.id)

    def test_explicit_rollback_discards_staged_changes(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.rollback()
            uow.commit()

        with uow_factory() as uow:
            assert uow.orders.get(order.id) is None

    def test_rollback_after_commit_is_a_no_op_and_later_changes_need_their_own_commit(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        first, second = an_order(), an_order()
        with uow_factory() as uow:
            uow.orders.add(first)
            uow.commit()
            uow.rollback()
            uow.orders.add(second)

        with uow_factory() as uow:
            assert_same_order(uow.orders.get(first.id), first)
            assert uow.orders.get(second.id) is None

    def test_a_unit_of_work_may_commit_more_than_once(self, uow_factory: UnitOfWorkFactory) -> None:
        first, second = an_order(), an_order()
        with uow_factory() as uow:
            uow.orders.add(first)
            uow.commit()
            uow.orders.add(second)
            uow.commit()

        with uow_factory() as uow:
            assert uow.orders.get(first.id) is not None
            assert uow.orders.get(second.id) is not None

    def test_uncommitted_changes_are_visible_inside_their_own_unit_of_work(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            assert_same_order(uow.orders.get(order.id), order)
            assert uow.products.count() == 1

    @staticmethod
    def _assert_empty(uow_factory: UnitOfWorkFactory, order_id: str) -> None:
        with uow_factory() as uow:
            assert uow.orders.get(order_id) is None
            assert uow.products.get("laptop") is None
            assert uow.products.count() == 0
            assert uow.outbox.pending_count() == 0
            assert uow.outbox.claim_batch(limit=10) == []
            assert uow.idempotency.get("key-1") is None

    # --- orders ----------------------------------------------------------------

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=_SHARED_FIXTURE_OK,
    )
    @given(order=orders_strategy)
    def test_an_order_round_trips_with_every_field_intact(
        self, uow_factory: UnitOfWorkFactory, order: Order
    ) -> None:
        order.id = str(uuid.uuid4())  # examples share the store; hypothesis may repeat ids
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        with uow_factory() as uow:
            assert_same_order(uow.orders.get(order.id), order)
            assert_same_order(uow.orders.get_for_update(order.id), order)

    def test_owner_and_token_digest_survive_a_save(self, uow_factory: UnitOfWorkFactory) -> None:
        order = an_order()
        order.owner = "key:3f1c"
        order.access_token_digest = "ab" * 32
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        with uow_factory() as uow:
            loaded = uow.orders.get_for_update(order.id)
            assert loaded is not None
            loaded.start_processing(T0 + timedelta(minutes=1))
            uow.orders.save(loaded)
            uow.commit()
        with uow_factory() as uow:
            again = uow.orders.get(order.id)
        assert again is not None
        assert (again.owner, again.access_token_digest) == ("key:3f1c", "ab" * 32)

    def test_list_owned_pages_one_owners_orders_newest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        mine = []
        with uow_factory() as uow:
            for minute in range(5):
                order = an_order(created_at=T0 + timedelta(minutes=minute))
                order.owner = "customer:alice"
                mine.append(order.id)
                uow.orders.add(order)
            for owner in ("customer:bob", None, "customer:alice2"):
                other = an_order(created_at=T0 + timedelta(minutes=9))
                other.owner = owner
                uow.orders.add(other)
            uow.commit()
        newest_first = list(reversed(mine))
        with uow_factory() as uow:
            first = uow.orders.list_owned(owner="customer:alice", limit=2, offset=0)
            rest = uow.orders.list_owned(owner="customer:alice", limit=10, offset=2)
            beyond = uow.orders.list_owned(owner="customer:alice", limit=10, offset=5)
            nobody = uow.orders.list_owned(owner="customer:carol", limit=10, offset=0)
        assert [o.id for o in first] == newest_first[:2]
        assert [o.id for o in rest] == newest_first[2:]
        assert beyond == [] and nobody == []
        assert all(o.owner == "customer:alice" for o in first + rest)

    def test_list_owned_breaks_ties_of_one_instant_by_id_descending(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        ids = sorted(str(uuid.uuid4()) for _ in range(3))
        with uow_factory() as uow:
            for order_id in ids:
                order = an_order(order_id)
                order.owner = "key:k1"
                uow.orders.add(order)
            uow.commit()
        with uow_factory() as uow:
            listed = uow.orders.list_owned(owner="key:k1", limit=10, offset=0)
        assert [o.id for o in listed] == list(reversed(ids))

    def test_an_unknown_order_is_none(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            assert uow.orders.get(str(uuid.uuid4())) is None
            assert uow.orders.get_for_update(str(uuid.uuid4())) is None

    def test_adding_a_stored_order_id_again_raises_duplicate_key(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        original = an_order()
        with uow_factory() as uow:
            uow.orders.add(original)
            uow.commit()

        impostor = an_order(original.id, status=OrderStatus.FAILED)
        with pytest.raises(DuplicateKey), uow_factory() as uow:
            uow.orders.add(impostor)
            uow.commit()

        with uow_factory() as uow:
            assert_same_order(uow.orders.get(original.id), original)

    def test_adding_the_same_order_twice_in_one_unit_of_work_raises_duplicate_key(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with pytest.raises(DuplicateKey), uow_factory() as uow:
            uow.orders.add(order)
            uow.orders.add(order)
            uow.commit()

    def test_a_duplicate_reported_at_add_leaves_the_unit_of_work_usable(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        stored, other = an_order(), an_order()
        with uow_factory() as uow:
            uow.orders.add(stored)
            uow.commit()

        with uow_factory() as uow:
            try:
                uow.orders.add(an_order(stored.id))
            except DuplicateKey:
                uow.orders.add(other)
                uow.commit()
            else:  # an adapter may report it at commit instead; then nothing is kept
                with pytest.raises(DuplicateKey):
                    uow.commit()
                return

        with uow_factory() as uow:
            assert_same_order(uow.orders.get(other.id), other)

    def test_save_stores_the_new_status_reason_timestamp_and_version(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()

        with uow_factory() as uow:
            loaded = uow.orders.get_for_update(order.id)
            assert loaded is not None
            loaded.start_processing(T0 + timedelta(seconds=1))
            loaded.fail(
                "insufficient stock for product laptop", T0 + timedelta(seconds=2, microseconds=7)
            )
            uow.orders.save(loaded)
            uow.commit()

        with uow_factory() as uow:
            stored = uow.orders.get(order.id)
            assert stored is not None
            assert stored.status is OrderStatus.FAILED
            assert stored.failure_reason == "insufficient stock for product laptop"
            assert stored.updated_at == T0 + timedelta(seconds=2, microseconds=7)
            assert stored.created_at == T0
            assert stored.version == 3
            assert stored.items == order.items

    def test_the_history_grows_by_one_transition_per_saved_status_change(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = Order.place(
            order_id=str(uuid.uuid4()),
            customer=Customer("Ada", "ada@example.com", "12 Analytical St"),
            items=(OrderLine("laptop", 1, Decimal("999.00")),),
            payment_method=PaymentMethod.CARD,
            now=T0,
        )
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        steps: list[Callable[[Order], None]] = [
            lambda o: o.start_processing(T0 + timedelta(seconds=1, microseconds=5)),
            lambda o: o.fail("insufficient stock: laptop", T0 + timedelta(seconds=2)),
        ]
        for length, step in enumerate(steps, start=2):
            with uow_factory() as uow:
                loaded = uow.orders.get_for_update(order.id)
                assert loaded is not None
                step(loaded)
                uow.orders.save(loaded)
                uow.commit()
            with uow_factory() as uow:
                stored = uow.orders.get(order.id)
            assert stored is not None
            assert len(stored.history) == length
        assert stored is not None

        assert stored.history == [
            Transition(OrderStatus.PENDING, T0),
            Transition(OrderStatus.PROCESSING, T0 + timedelta(seconds=1, microseconds=5)),
            Transition(OrderStatus.FAILED, T0 + timedelta(seconds=2), "insufficient stock: laptop"),
        ]
        assert all(t.at.utcoffset() == timedelta(0) for t in stored.history)

    def test_a_cancelled_order_keeps_its_timeline(self, uow_factory: UnitOfWorkFactory) -> None:
        order = an_order(created_at=T0)
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        with uow_factory() as uow:
            loaded = uow.orders.get_for_update(order.id)
            assert loaded is not None
            loaded.cancel(T0 + timedelta(minutes=3))
            uow.orders.save(loaded)
            uow.commit()
        with uow_factory() as uow:
            stored = uow.orders.get(order.id)
        assert stored is not None
        assert [(t.status, t.at, t.reason) for t in stored.history] == [
            (OrderStatus.PENDING, T0, None),
            (OrderStatus.CANCELLED, T0 + timedelta(minutes=3), None),
        ]

    def test_batches_lock_save_and_add_many_orders_each_with_its_own_values(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        orders = [an_order(created_at=T0 + timedelta(seconds=n)) for n in range(5)]
        with uow_factory() as uow:
            uow.orders.add_many(orders[:3])
            uow.orders.add_many(orders[3:])
            uow.commit()

        with uow_factory() as uow:
            locked = uow.orders.get_many_for_update([o.id for o in orders] + [str(uuid.uuid4())])
            assert sorted(locked) == sorted(o.id for o in orders)
            for n, order in enumerate(orders):
                loaded = locked[order.id]
                loaded.start_processing(T0 + timedelta(minutes=n))
                if n % 2:
                    loaded.fail(f"reason {n}", T0 + timedelta(minutes=n, microseconds=n))
            uow.orders.save_many(list(locked.values()))
            uow.commit()

        with uow_factory() as uow:
            for n, order in enumerate(orders):
                stored = uow.orders.get(order.id)
                assert stored is not None
                if n % 2:
                    assert (stored.status, stored.failure_reason) == (
                        OrderStatus.FAILED,
                        f"reason {n}",
                    )
                    assert stored.updated_at == T0 + timedelta(minutes=n, microseconds=n)
                    assert stored.version == 3
                else:
                    assert (stored.status, stored.failure_reason) == (OrderStatus.PROCESSING, None)
                    assert stored.version == 2
                assert stored.created_at == order.created_at

    def test_save_many_stores_each_products_own_stock(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            for n, product_id in enumerate(("a", "b", "c")):
                uow.products.upsert(a_product(product_id, name=product_id, stock=10 + n))
            uow.commit()

        with uow_factory() as uow:
            found = uow.products.get_many(["c", "a", "missing"])
            assert sorted(found) == ["a", "c"]
            assert uow.products.prices(["c", "missing", "a"]) == {
                "a": a_product("a").price,
                "c": a_product("c").price,
            }
            locked = uow.products.get_many_for_update(["a", "b", "c"])
            locked["a"].take(1)
            locked["c"].take(12)
            uow.products.save_many([locked["a"], locked["c"]])
            uow.commit()

        with uow_factory() as uow:
            stock = {pid: uow.products.get(pid) for pid in ("a", "b", "c")}
            assert [p.stock if p else None for p in stock.values()] == [9, 11, 0]

    def test_prices_of_any_number_of_products_with_their_cents(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        prices = {f"p{n}": Decimal(f"{n}.{n}5") for n in range(1, 10)}
        with uow_factory() as uow:
            for product_id, price in prices.items():
                uow.products.upsert(a_product(product_id, name=product_id, price=price))
            uow.commit()

        with uow_factory() as uow:
            for count in (1, 2, 3, 5, 9):
                wanted = [f"p{n}" for n in range(1, count + 1)]
                found = uow.products.prices([*wanted, "missing", wanted[0]])
                assert found == {product_id: prices[product_id] for product_id in wanted}
                assert all(isinstance(price, Decimal) for price in found.values())
                assert [str(found[product_id]) for product_id in wanted] == [
                    str(prices[product_id]) for product_id in wanted
                ]

    def test_save_without_commit_changes_nothing(self, uow_factory: UnitOfWorkFactory) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()
        with uow_factory() as uow:
            loaded = uow.orders.get_for_update(order.id)
            assert loaded is not None
            loaded.cancel(T0 + timedelta(minutes=1))
            uow.orders.save(loaded)

        with uow_factory() as uow:
            assert_same_order(uow.orders.get(order.id), order)

    def test_list_stuck_returns_old_orders_in_the_given_statuses_oldest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        cutoff = T0 + timedelta(hours=1)

        def at(minutes: int, status: OrderStatus) -> Order:
            when = T0 + timedelta(minutes=minutes)
            return an_order(status=status, created_at=when, updated_at=when)

        oldest_pending = at(5, OrderStatus.PENDING)
        old_processing = at(10, OrderStatus.PROCESSING)
        newer_pending = at(30, OrderStatus.PENDING)
        orders = [
            newer_pending,
            at(1, OrderStatus.COMPLETED),  # old but finished
            at(2, OrderStatus.FAILED),
            at(3, OrderStatus.CANCELLED),
            old_processing,
            at(60, OrderStatus.PENDING),  # exactly at the cutoff: not older
            at(90, OrderStatus.PROCESSING),  # too recent
            oldest_pending,
        ]
        with uow_factory() as uow:
            for order in orders:
                uow.orders.add(order)
            uow.commit()

        stuck_statuses = [OrderStatus.PENDING, OrderStatus.PROCESSING]
        with uow_factory() as uow:
            stuck = uow.orders.list_stuck(statuses=stuck_statuses, older_than=cutoff, limit=10)
            assert [o.id for o in stuck] == [oldest_pending.id, old_processing.id, newer_pending.id]
            assert_same_order(stuck[0], oldest_pending)

            first_two = uow.orders.list_stuck(statuses=stuck_statuses, older_than=cutoff, limit=2)
            assert [o.id for o in first_two] == [oldest_pending.id, old_processing.id]

            only_processing = uow.orders.list_stuck(
                statuses=[OrderStatus.PROCESSING], older_than=cutoff, limit=10
            )
            assert [o.id for o in only_processing] == [old_processing.id]

            # The cutoff is an instant: the same moment in another zone counts alike.
            in_india = cutoff.astimezone(timezone(timedelta(hours=5, minutes=30)))
            assert (
                len(uow.orders.list_stuck(statuses=stuck_statuses, older_than=in_india, limit=10))
                == 3
            )

    def test_get_for_update_lets_one_writer_at_a_time_change_an_order(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()

        def start_processing() -> bool:
            with uow_factory() as uow:
                loaded = uow.orders.get_for_update(order.id)
                assert loaded is not None
                if loaded.status is not OrderStatus.PENDING:
                    return False
                time.sleep(0.05)  # widen the window a missing lock would leave open
                loaded.start_processing(T0 + timedelta(seconds=1))
                uow.orders.save(loaded)
                uow.commit()
                return True

        assert sorted(run_together(5, start_processing)) == [False, False, False, False, True]
        with uow_factory() as uow:
            stored = uow.orders.get(order.id)
            assert stored is not None
            assert (stored.status, stored.version) == (OrderStatus.PROCESSING, 2)

    # --- products ----------------------------------------------------------------

    def test_upsert_inserts_then_overwrites_every_catalog_field(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.products.upsert(a_product())
            uow.commit()
        renamed = a_product(
            name="Laptop Pro", description="Faster", price=Decimal("1299.50"), stock=4
        )
        with uow_factory() as uow:
            uow.products.upsert(renamed)
            uow.products.upsert(a_product("mouse", name="Mouse", price=Decimal("0.10")))
            uow.commit()

        with uow_factory() as uow:
            assert_same_product(uow.products.get("laptop"), renamed)
            assert_same_product(
                uow.products.get("mouse"), a_product("mouse", name="Mouse", price=Decimal("0.10"))
            )
            assert uow.products.get("unknown") is None
            assert uow.products.count() == 2

    def test_get_by_name_ignores_case_and_prefers_the_lowest_id(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.products.upsert(a_product("p2", name="Laptop"))
            uow.products.upsert(a_product("p1", name="LAPTOP"))
            uow.products.upsert(a_product("p3", name="Laptop bag"))
            uow.commit()

        with uow_factory() as uow:
            found = uow.products.get_by_name("laptop")
            assert found is not None and found.id == "p1"
            bag = uow.products.get_by_name("lAPTOP BAG")
            assert bag is not None and bag.id == "p3"
            assert uow.products.get_by_name("lap") is None
            assert uow.products.get_by_name("Laptop%") is None
            assert uow.products.get_by_name("") is None

    def test_search_matches_a_case_insensitive_substring_of_name_or_description(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        self._load_tricky_catalog(uow_factory)
        with uow_factory() as uow:
            page = uow.products.search(text="ALPHA", limit=50, offset=0)
            # Ordered by name then id, comparing names exactly (upper case first).
            assert [p.id for p in page.items] == ["p10", "p01", "p12", "p07", "p02"]
            assert page.total == 5

            by_description = uow.products.search(text="LeTTeR", limit=50, offset=0)
            assert [p.id for p in by_description.items] == ["p01", "p07", "p02"]

            everything = uow.products.search(text="", limit=50, offset=0)
            assert everything.total == len(TRICKY_CATALOG)
            assert [p.id for p in everything.items] == _reference_search(TRICKY_CATALOG, "")

            nothing = uow.products.search(text="no such thing", limit=50, offset=0)
            assert (nothing.items, nothing.total) == ([], 0)

    def test_search_paginates_and_reports_the_total(self, uow_factory: UnitOfWorkFactory) -> None:
        self._load_tricky_catalog(uow_factory)
        expected = _reference_search(TRICKY_CATALOG, "a")
        with uow_factory() as uow:
            pages = [
                uow.products.search(text="a", limit=3, offset=offset)
                for offset in range(0, len(expected) + 3, 3)
            ]
        assert all(page.total == len(expected) for page in pages)
        assert [p.id for page in pages for p in page.items] == expected
        assert pages[-1].items == []
        first = pages[0].items[0]
        assert_same_product(first, _tricky_product(first.id))

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("%", ["p03"]),
            ("0%c", []),  # as a LIKE pattern it would match "100% cotton"
            ("_", ["p10", "p04"]),
            ("s_a", []),  # as a LIKE pattern it would match "snake_case"
            ("\\", ["p05"]),
            ("k\\s", ["p05"]),
            ("/", ["p06"]),
            (".*", []),  # as a regex it would match everything
            ("b*c", ["p08"]),
            ("[ab]", []),
            ('{"$gt": ""}', ["p09"]),
            ("$gt", ["p09"]),
            ("'", ["p07", "p11"]),
            ("'; DROP TABLE products; --", []),
        ],
    )
    def test_search_text_is_a_literal(
        self, uow_factory: UnitOfWorkFactory, text: str, expected: list[str]
    ) -> None:
        self._load_tricky_catalog(uow_factory)
        with uow_factory() as uow:
            page = uow.products.search(text=text, limit=50, offset=0)
            assert [p.id for p in page.items] == expected
            assert page.total == len(expected)
            assert uow.products.count() == len(TRICKY_CATALOG)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=_SHARED_FIXTURE_OK,
    )
    @given(text=st.text(alphabet="aAlLpPhH%_\\/.*${}\"': 01tT", max_size=4))
    def test_search_agrees_with_a_plain_substring_test(
        self, uow_factory: UnitOfWorkFactory, text: str
    ) -> None:
        self._load_tricky_catalog(uow_factory)
        with uow_factory() as uow:
            page = uow.products.search(text=text, limit=50, offset=0)
        expected = _reference_search(TRICKY_CATALOG, text)
        assert [p.id for p in page.items] == expected
        assert page.total == len(expected)

    def test_search_counts_to_a_cap_and_pages_past_it_like_a_plain_scan(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        # 1,100 products: "model" and "e" match them all, past the count cap.
        rows = realistic_catalog(1100)
        with uow_factory() as uow:
            for row in rows:
                uow.products.upsert(as_product(row))
            uow.commit()
        texts = ["model", "e", "", "Lamp", "Deluxe Lamp", "OAK", "model 00042", "zzqx-none"]
        pages = [(20, 0), (100, 950), (20, 981), (20, 1000), (20, 1080), (20, 1100)]
        with uow_factory() as uow:
            wrong = check_pages(uow.products, rows, texts, pages)
            first = uow.products.search(text="model", limit=20, offset=0)
        assert not wrong, "\n".join(wrong)
        assert (first.total, first.total_exact) == (SEARCH_COUNT_CAP + 1, False)

    def test_get_many_for_update_returns_only_known_products(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            for product_id in ("b", "a", "c"):
                uow.products.upsert(a_product(product_id, name=product_id.upper()))
            uow.commit()

        with uow_factory() as uow:
            found = uow.products.get_many_for_update(["c", "missing", "a", "c"])
            assert sorted(found) == ["a", "c"]
            assert_same_product(found["a"], a_product("a", name="A"))
            assert uow.products.get_many_for_update([]) == {}

    def test_saving_a_product_stores_its_new_stock(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            uow.products.upsert(a_product(stock=5))
            uow.commit()

        with uow_factory() as uow:
            laptop = uow.products.get_many_for_update(["laptop"])["laptop"]
            laptop.take(2)
            uow.products.save(laptop)
            uow.commit()

        with uow_factory() as uow:
            assert_same_product(uow.products.get("laptop"), a_product(stock=3))

    def test_saving_unchanged_aggregates_is_harmless(self, uow_factory: UnitOfWorkFactory) -> None:
        # MySQL reports "rows changed", not "rows matched", unless told otherwise.
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.products.upsert(a_product())
            uow.commit()
        with uow_factory() as uow:
            loaded = uow.orders.get_for_update(order.id)
            assert loaded is not None
            uow.orders.save(loaded)
            uow.products.save(uow.products.get_many_for_update(["laptop"])["laptop"])
            uow.commit()
        with uow_factory() as uow:
            assert_same_order(uow.orders.get(order.id), order)
            assert_same_product(uow.products.get("laptop"), a_product())

    def test_stock_can_be_taken_down_to_zero_but_never_below(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.products.upsert(a_product(stock=2))
            uow.commit()

        with uow_factory() as uow:
            laptop = uow.products.get_many_for_update(["laptop"])["laptop"]
            with pytest.raises(InsufficientStock):
                laptop.take(3)
            laptop.take(2)
            with pytest.raises(InsufficientStock):
                laptop.take(1)
            uow.products.save(laptop)
            uow.commit()

        with uow_factory() as uow:
            stored = uow.products.get("laptop")
            assert stored is not None and stored.stock == 0

    def test_concurrent_reservations_never_oversell(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            uow.products.upsert(a_product(stock=3))
            uow.commit()

        def reserve_one() -> bool:
            with uow_factory() as uow:
                laptop = uow.products.get_many_for_update(["laptop"])["laptop"]
                try:
                    laptop.take(1)
                except InsufficientStock:
                    return False
                time.sleep(0.01)  # widen the window a missing lock would leave open
                uow.products.save(laptop)
                uow.commit()
                return True

        outcomes = run_together(10, reserve_one)
        assert outcomes.count(True) == 3
        with uow_factory() as uow:
            stored = uow.products.get("laptop")
            assert stored is not None and stored.stock == 0

    def _load_tricky_catalog(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            for product_id, _name, _description in TRICKY_CATALOG:
                uow.products.upsert(_tricky_product(product_id))
            uow.commit()

    # --- outbox --------------------------------------------------------------------

    def test_outbox_claims_unpublished_messages_oldest_first(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        messages = [a_message(n, created_at=T0 + timedelta(seconds=n)) for n in range(5)]
        with uow_factory() as uow:
            uow.outbox.add(messages[:3])
            uow.commit()
        with uow_factory() as uow:
            uow.outbox.add(messages[3:])
            uow.outbox.add([])
            uow.commit()

        with uow_factory() as uow:
            assert uow.outbox.pending_count() == 5
            batch = uow.outbox.claim_batch(limit=3)
            assert [m.message_id for m in batch] == [m.message_id for m in messages[:3]]
            assert all(m.seq is not None for m in batch)
            assert [replace(m, seq=None) for m in batch] == messages[:3]
            seqs = [m.seq for m in batch if m.seq is not None]
            assert seqs == sorted(seqs) and len(set(seqs)) == 3
            uow.outbox.mark_published(seqs=seqs, at=T0 + timedelta(minutes=1))
            uow.commit()

        with uow_factory() as uow:
            assert uow.outbox.pending_count() == 2
            rest = uow.outbox.claim_batch(limit=10)
            assert [m.message_id for m in rest] == [m.message_id for m in messages[3:]]
            assert uow.outbox.claim_batch(limit=0) == []

    def test_claimed_but_unmarked_messages_are_claimed_again(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.outbox.add([a_message(1)])
            uow.commit()
        with uow_factory() as uow:
            assert len(uow.outbox.claim_batch(limit=10)) == 1  # the broker failed: no mark
        with uow_factory() as uow:
            assert len(uow.outbox.claim_batch(limit=10)) == 1
            assert uow.outbox.pending_count() == 1

    def test_marking_published_without_commit_changes_nothing(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.outbox.add([a_message(1)])
            uow.commit()
        with uow_factory() as uow:
            [message] = uow.outbox.claim_batch(limit=10)
            assert message.seq is not None
            uow.outbox.mark_published(seqs=[message.seq], at=T0)
        with uow_factory() as uow:
            assert uow.outbox.pending_count() == 1

    def test_purge_deletes_only_messages_published_before_the_cutoff(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.outbox.add([a_message(n) for n in range(4)])
            uow.commit()
        with uow_factory() as uow:
            first, second, third, _unpublished = uow.outbox.claim_batch(limit=10)
            assert first.seq is not None and second.seq is not None and third.seq is not None
            uow.outbox.mark_published(seqs=[first.seq], at=T0)
            uow.outbox.mark_published(seqs=[second.seq], at=T0 + timedelta(hours=1))
            uow.outbox.mark_published(seqs=[third.seq], at=T0 + timedelta(hours=3))
            uow.outbox.mark_published(seqs=[], at=T0)
            uow.commit()

        with uow_factory() as uow:
            assert uow.outbox.purge_published(older_than=T0 + timedelta(hours=2)) == 2
            uow.commit()
        with uow_factory() as uow:
            assert uow.outbox.purge_published(older_than=T0 + timedelta(hours=2)) == 0
            assert uow.outbox.pending_count() == 1
            [remaining] = uow.outbox.claim_batch(limit=10)
            assert remaining.key == "order-3"

    # --- idempotency keys -----------------------------------------------------------

    def test_an_idempotency_record_round_trips(self, uow_factory: UnitOfWorkFactory) -> None:
        record = a_record("Key-Abc")
        with uow_factory() as uow:
            uow.idempotency.add(record)
            uow.commit()
        with uow_factory() as uow:
            assert uow.idempotency.get("Key-Abc") == record
            assert uow.idempotency.get("key-abc") is None  # keys compare exactly
            assert uow.idempotency.get("missing") is None

    def test_a_stored_idempotency_key_cannot_be_added_again(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        original = a_record("key-1")
        with uow_factory() as uow:
            uow.idempotency.add(original)
            uow.commit()

        with pytest.raises(DuplicateKey), uow_factory() as uow:
            uow.idempotency.add(replace(original, fingerprint="other", order_id="other"))
            uow.commit()

        with uow_factory() as uow:
            assert uow.idempotency.get("key-1") == original

    def test_concurrent_adds_of_one_idempotency_key_let_exactly_one_win(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        def add() -> str:
            try:
                with uow_factory() as uow:
                    uow.idempotency.add(a_record("contested"))
                    time.sleep(0.02)
                    uow.commit()
            except DuplicateKey:
                return "duplicate"
            return "stored"

        assert sorted(run_together(4, add)) == ["duplicate", "duplicate", "duplicate", "stored"]

    def test_purge_deletes_idempotency_records_created_before_the_cutoff(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.idempotency.add(a_record("old", created_at=T0))
            uow.idempotency.add(a_record("older", created_at=T0 - timedelta(days=2)))
            uow.idempotency.add(a_record("fresh", created_at=T0 + timedelta(days=1)))
            uow.commit()
        with uow_factory() as uow:
            assert uow.idempotency.purge(older_than=T0 + timedelta(microseconds=1)) == 2
            uow.commit()
        with uow_factory() as uow:
            assert uow.idempotency.get("old") is None
            assert uow.idempotency.get("older") is None
            assert uow.idempotency.get("fresh") is not None


def _tricky_product(product_id: str) -> Product:
    for pid, name, description in TRICKY_CATALOG:
        if pid == product_id:
            return a_product(pid, name=name, description=description, price=Decimal("1.50"))
    raise KeyError(product_id)


def _reference_search(catalog: list[tuple[str, str, str]], text: str) -> list[str]:
    """The specification of search, in plain Python."""
    folded = text.casefold()
    hits = [
        (name, pid)
        for pid, name, description in catalog
        if folded in name.casefold() or folded in description.casefold()
    ]
    return [pid for _name, pid in sorted(hits)]
