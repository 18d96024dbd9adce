"""The order and product repositories on one SQLAlchemy Connection (one
transaction, owned by the unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    RowMapping,
    Select,
    String,
    bindparam,
    delete,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from orderflow.adapters.sqlalchemy.errors import translated
from orderflow.adapters.sqlalchemy.search_index import (
    index_rows,
    query_trigrams,
    query_words,
    trigrams,
)
from orderflow.adapters.sqlalchemy.search_statements import (
    BOUND,
    FIRST,
    LIMIT,
    OFFSET,
    PATTERN,
    SECOND,
    search_statements,
)
from orderflow.adapters.sqlalchemy.search_stats import trigram_counts
from orderflow.adapters.sqlalchemy.statements import (
    CaseFold,
    DriverInsert,
    DriverSelectIn,
    bulk_update,
    contains_pattern,
    insert_ignoring_duplicates,
    insert_new,
)
from orderflow.adapters.sqlalchemy.tables import (
    MYSQL_DIALECTS,
    orders,
    product_trigrams,
    products,
)
from orderflow.domain.errors import OrderNotFound, ProductNotFound
from orderflow.domain.model import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Product,
    Transition,
)
from orderflow.ports.repositories import (
    OrderRepository,
    ProductPage,
    ProductRepository,
    search_count_bound,
)


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "customer_name": order.customer.name,
        "customer_email": order.customer.email,
        "customer_address": order.customer.address,
        "payment_method": order.payment_method.value,
        "status": order.status.value,
        "failure_reason": order.failure_reason,
        "total": order.total,
        "items": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                # A string: JSON numbers would go through float.
                "unit_price": str(line.unit_price),
            }
            for line in order.items
        ],
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "version": order.version,
        "history": _history_json(order),
        "owner": order.owner,
        "access_token_digest": order.access_token_digest,
        "reserved": order.reserved,
    }


def _history_json(order: Order) -> list[dict[str, Any]]:
    return [transition.to_dict() for transition in order.history]


# Statements of the hot paths, built once: building one costs more than
# SQLAlchemy's compiled cache saves (an expanding IN takes any number of ids).
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_PRODUCTS_BY_ID = select(products).where(products.c.id.in_(_IDS))
_PRICES_BY_ID = DriverSelectIn(products, "id", ["id", "price"])
_PRODUCTS_FOR_UPDATE = (
    select(products).where(products.c.id.in_(_IDS)).order_by(products.c.id).with_for_update()
)
_INSERT_ORDERS = DriverInsert(orders, [column.name for column in orders.columns])
_ORDERS_FOR_UPDATE = (
    select(orders).where(orders.c.id.in_(_IDS)).order_by(orders.c.id).with_for_update()
)


def _order_changes(order: Order) -> dict[str, Any]:
    """The columns a status change writes: save() and save_many() (the
    worker's batches, through bulk_update) both write exactly these, so a
    column added here (a JSON history, say) is written by both."""
    return {
        "status": order.status.value,
        "failure_reason": order.failure_reason,
        "updated_at": order.updated_at,
        "version": order.version,
        "history": _history_json(order),
        "reserved": order.reserved,
    }


def _order_from(row: RowMapping) -> Order:
    return Order(
        id=row["id"],
        customer=Customer(
            name=row["customer_name"],
            email=row["customer_email"],
            address=row["customer_address"],
        ),
        items=tuple(
            OrderLine(
                product_id=str(item["product_id"]),
                quantity=int(item["quantity"]),
                unit_price=Decimal(str(item["unit_price"])),
            )
            for item in row["items"]
        ),
        payment_method=PaymentMethod(row["payment_method"]),
        status=OrderStatus(row["status"]),
        failure_reason=row["failure_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        history=[Transition.from_dict(item) for item in row["history"] or ()],
        owner=row["owner"],
        access_token_digest=row["access_token_digest"],
        reserved=row["reserved"],
    )


class SqlOrderRepository(OrderRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @translated
    def add(self, order: Order) -> None:
        insert_new(
            self._connection,
            orders,
            _order_row(order),
            key=orders.c.id,
            what=f"order {order.id}",
        )

    @translated
    def add_many(self, added: Sequence[Order]) -> None:
        if len(added) == 1:
            self.add(added[0])
            return
        # One multi-row INSERT; a taken id fails it all (DuplicateKey).
        _INSERT_ORDERS.execute(self._connection, [_order_row(order) for order in added])

    @translated
    def get(self, order_id: str) -> Order | None:
        return self._one(select(orders).where(orders.c.id == order_id))

    @translated
    def get_for_update(self, order_id: str) -> Order | None:
        # FOR UPDATE is dropped on SQLite, where BEGIN IMMEDIATE already
        # serialises every writer.
        return self._one(select(orders).where(orders.c.id == order_id).with_for_update())

    @translated
    def get_many_for_update(self, order_ids: Sequence[str]) -> dict[str, Order]:
        wanted = sorted(set(order_ids))
        if not wanted:
            return {}
        # One statement, rows locked in id order (as products are).
        rows = self._connection.execute(_ORDERS_FOR_UPDATE, {"ids": wanted}).mappings()
        return {row["id"]: _order_from(row) for row in rows}

    @translated
    def save(self, order: Order) -> None:
        result = self._connection.execute(
            update(orders).where(orders.c.id == order.id).values(**_order_changes(order))
        )
        if result.rowcount == 0:
            raise OrderNotFound(order.id)

    @translated
    def save_many(self, saved: Sequence[Order]) -> None:
        if len(saved) == 1:
            self.save(saved[0])
            return
        changes = {order.id: _order_changes(order) for order in saved}
        if bulk_update(self._connection, orders, orders.c.id, changes) < len(changes):
            missing = sorted(changes.keys() - self._existing(list(changes)))
            raise OrderNotFound(missing[0] if missing else "?")

    def _existing(self, order_ids: list[str]) -> set[str]:
        rows = self._connection.execute(select(orders.c.id).where(orders.c.id.in_(order_ids)))
        return {row[0] for row in rows}

    @translated
    def list_owned(self, *, owner: str, limit: int, offset: int) -> list[Order]:
        if limit <= 0:
            return []
        rows = self._connection.execute(
            select(orders)
            .where(orders.c.owner == owner)
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(limit)
            .offset(max(offset, 0))
        ).mappings()
        return [_order_from(row) for row in rows]

    @translated
    def list_stuck(
        self, *, statuses: Sequence[OrderStatus], older_than: datetime, limit: int
    ) -> list[Order]:
        if not statuses or limit <= 0:
            return []
        rows = self._connection.execute(
            select(orders)
            .where(
                orders.c.status.in_([status.value for status in statuses]),
                orders.c.updated_at < older_than,
            )
            .order_by(orders.c.updated_at, orders.c.id)
            .limit(limit)
        ).mappings()
        return [_order_from(row) for row in rows]

    def _one(self, statement: Select[Any]) -> Order | None:
        row = self._connection.execute(statement).mappings().first()
        return _order_from(row) if row is not None else None


def _product_from(row: RowMapping) -> Product:
    return Product(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        price=row["price"],
        stock=row["stock"],
    )


def _product_row(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "price": product.price,
        "stock": product.stock,
    }


_UPSERTED_COLUMNS = ("name", "description", "price", "stock")
MAX_PROBES = 8  # trigrams of a search text whose frequency is probed
RAREST_CAP = 10_000  # trigram frequencies are counted up to this


class SqlProductRepository(ProductRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @translated
    def upsert(self, product: Product) -> None:
        # The row lock makes the index update below one writer's at a time.
        old = self._connection.execute(
            select(products.c.name, products.c.description)
            .where(products.c.id == product.id)
            .with_for_update()
        ).first()
        row = _product_row(product)
        dialect = self._connection.dialect.name
        if dialect in MYSQL_DIALECTS:
            my_insert = mysql.insert(products).values(row)
            self._connection.execute(
                my_insert.on_duplicate_key_update(
                    {name: my_insert.inserted[name] for name in _UPSERTED_COLUMNS}
                )
            )
        elif dialect == "postgresql":
            pg_insert = postgresql.insert(products).values(row)
            self._connection.execute(
                pg_insert.on_conflict_do_update(
                    index_elements=[products.c.id],
                    set_={name: pg_insert.excluded[name] for name in _UPSERTED_COLUMNS},
                )
            )
        elif dialect == "sqlite":
            lite_insert = sqlite.insert(products).values(row)
            self._connection.execute(
                lite_insert.on_conflict_do_update(
                    index_elements=[products.c.id],
                    set_={name: lite_insert.excluded[name] for name in _UPSERTED_COLUMNS},
                )
            )
        else:  # pragma: no cover - make_engine accepts only the three above
            raise NotImplementedError(f"upsert on {dialect}")
        self._reindex(product, None if old is None else (old.name, old.description))

    def _reindex(self, product: Product, old: tuple[str, str] | None) -> None:
        """Bring the product's search-index rows from its `old` name and
        description to its new ones. Every row holds the name, so a rename
        replaces them all. Rows are only ever a superset of the current
        ones (two first inserts of one product may both add theirs): the
        searches match a row's name with the product's, and the LIKE decides."""
        now = trigrams(product.name, product.description)
        before = set() if old is None else trigrams(*old)
        renamed = old is not None and old[0] != product.name
        stale, added = (before, now) if renamed else (before - now, now - before)
        if stale and old is not None:
            self._connection.execute(
                delete(product_trigrams).where(
                    product_trigrams.c.trigram.in_(sorted(stale)),
                    product_trigrams.c.name == old[0],
                    product_trigrams.c.product_id == product.id,
                )
            )
        if added:
            self._connection.execute(
                insert_ignoring_duplicates(self._connection, product_trigrams),
                index_rows(product.id, product.name, added),
            )

    @translated
    def get(self, product_id: str) -> Product | None:
        row = (
            self._connection.execute(select(products).where(products.c.id == product_id))
            .mappings()
            .first()
        )
        return _product_from(row) if row is not None else None

    @translated
    def get_many(self, product_ids: Sequence[str]) -> dict[str, Product]:
        wanted = sorted(set(product_ids))
        if not wanted:
            return {}
        rows = self._connection.execute(_PRODUCTS_BY_ID, {"ids": wanted})
        return {row["id"]: _product_from(row) for row in rows.mappings()}

    @translated
    def prices(self, product_ids: Sequence[str]) -> dict[str, Decimal]:
        wanted = sorted(set(product_ids))
        if not wanted:
            return {}
        return {row[0]: row[1] for row in _PRICES_BY_ID.rows(self._connection, wanted)}

    @translated
    def get_by_name(self, name: str) -> Product | None:
        row = (
            self._connection.execute(
                select(products)
                .where(CaseFold(products.c.name) == CaseFold(literal(name)))
                .order_by(products.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        return _product_from(row) if row is not None else None

    @translated
    def get_many_for_update(self, product_ids: Sequence[str]) -> dict[str, Product]:
        wanted = sorted(set(product_ids))
        if not wanted:
            return {}
        # One statement, rows locked in id order: every worker acquires its
        # locks in the same order, so two orders sharing products queue up
        # instead of deadlocking.
        rows = self._connection.execute(_PRODUCTS_FOR_UPDATE, {"ids": wanted}).mappings()
        return {row["id"]: _product_from(row) for row in rows}

    @translated
    def save(self, product: Product) -> None:
        result = self._connection.execute(
            update(products).where(products.c.id == product.id).values(stock=product.stock)
        )
        if result.rowcount == 0:
            raise ProductNotFound(product.id)

    @translated
    def save_many(self, saved: Sequence[Product]) -> None:
        if len(saved) == 1:
            self.save(saved[0])
            return
        changes = {product.id: {"stock": product.stock} for product in saved}
        if bulk_update(self._connection, products, products.c.id, changes) < len(changes):
            raise ProductNotFound(",".join(sorted(changes)))

    @translated
    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        offset = max(offset, 0)
        bound = search_count_bound(limit=limit, offset=offset)
        values: dict[str, Any] = {PATTERN: contains_pattern(text)}
        grams = query_trigrams(text)
        if grams:
            counts = self._trigram_counts(grams)
            rarest = min(counts, key=lambda gram: (counts[gram], gram))
            if counts[rarest] == 0:  # a trigram no product holds: nothing can match
                return ProductPage(items=[], total=0)
            values[FIRST] = rarest
            other = self._other_word(text, rarest, counts)
            if other is not None:
                values[SECOND] = other
        statements = search_statements(self._connection.dialect.name, len(values) - 1)
        items: list[Product] = []
        if limit > 0:
            # Read in order off an index (the trigram key, or the name index
            # for a text without a trigram), stopping at the page's last
            # match: nothing is sorted, and matches past the page are not read.
            rows = self._connection.execute(
                statements.page, {**values, LIMIT: limit, OFFSET: offset}
            ).mappings()
            items = [_product_from(row) for row in rows]
            if len(items) < limit and (items or offset == 0):
                # The last page: every match has been seen.
                return ProductPage.counted(items, counted=offset + len(items), bound=bound)
        # Counting stops at the bound (SEARCH_COUNT_CAP): a common word is
        # not read to its last match.
        counted = int(
            self._connection.execute(statements.count, {**values, BOUND: bound}).scalar_one()
        )
        if items:
            # Two statements, two snapshots (READ COMMITTED): never report
            # fewer than the page has shown.
            counted = min(max(counted, offset + len(items)), bound)
        return ProductPage.counted(items, counted=counted, bound=bound)

    def _trigram_counts(self, grams: set[str]) -> dict[str, int]:
        """How many products hold each of (up to MAX_PROBES of) `grams`,
        counted up to RAREST_CAP: beyond that, which is rarer matters less
        than the time it takes to count. Counts come from the process's
        recent probes where it has them (search_stats.py); a 0 always comes
        from a probe made now."""
        # Digits are rare in names and descriptions: try those trigrams first.
        chosen = sorted(grams, key=lambda g: (not any(c.isdigit() for c in g), g))[:MAX_PROBES]
        remembered = trigram_counts(self._connection.engine)
        counts = remembered.known(chosen)
        unknown = [gram for gram in chosen if gram not in counts]
        if unknown:
            probes = [
                select(literal(gram, String()).label("gram"), func.count().label("n")).select_from(
                    select(product_trigrams.c.product_id)
                    .where(product_trigrams.c.trigram == gram)
                    .limit(RAREST_CAP)
                    .subquery()
                )
                for gram in unknown
            ]
            probed = {
                str(row.gram): int(row.n) for row in self._connection.execute(union_all(*probes))
            }
            remembered.remember(probed)
            counts.update(probed)
        return counts

    @staticmethod
    def _other_word(text: str, rarest: str, counts: dict[str, int]) -> str | None:
        """The rarest probed trigram of a word of `text` other than the
        rarest trigram's, if it is rarer than RAREST_CAP (a word nearly
        every product holds filters nothing); else None."""
        words = query_words(text)
        own = set().union(*(word for word in words if rarest in word))
        others = [gram for gram in counts if gram not in own and counts[gram] < RAREST_CAP]
        return min(others, key=lambda gram: (counts[gram], gram)) if others else None

    @translated
    def count(self) -> int:
        return int(
            self._connection.execute(select(func.count()).select_from(products)).scalar_one()
        )
