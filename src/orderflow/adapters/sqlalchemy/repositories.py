"""The order and product repositories on one SQLAlchemy Connection (one
transaction, owned by the unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    FromClause,
    RowMapping,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from orderflow.adapters.sqlalchemy.errors import translated
from orderflow.adapters.sqlalchemy.search_index import index_rows, query_trigrams, trigrams
from orderflow.adapters.sqlalchemy.statements import (
    LIKE_ESCAPE,
    CaseFold,
    DriverInsert,
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
from orderflow.ports.repositories import OrderRepository, ProductPage, ProductRepository


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
    }


def _history_json(order: Order) -> list[dict[str, Any]]:
    return [transition.to_dict() for transition in order.history]


# Statements of the hot paths, built once: building one costs more than
# SQLAlchemy's compiled cache saves (an expanding IN takes any number of ids).
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_PRODUCTS_BY_ID = select(products).where(products.c.id.in_(_IDS))
_PRICES_BY_ID = select(products.c.id, products.c.price).where(products.c.id.in_(_IDS))
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
RAREST_CAP = 2000


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
        self._reindex(product, set() if old is None else trigrams(old.name, old.description))

    def _reindex(self, product: Product, before: set[str]) -> None:
        """Bring the product's search-index rows from `before` to its text.
        Rows are only ever a superset of the text's trigrams (two first
        inserts of one product may both add theirs): the index filters,
        the LIKE decides."""
        now = trigrams(product.name, product.description)
        stale = sorted(before - now)
        if stale:
            self._connection.execute(
                delete(product_trigrams).where(
                    product_trigrams.c.product_id == product.id,
                    product_trigrams.c.trigram.in_(stale),
                )
            )
        added = now - before
        if added:
            self._connection.execute(
                insert_ignoring_duplicates(self._connection, product_trigrams),
                index_rows(product.id, added),
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
        rows = self._connection.execute(_PRICES_BY_ID, {"ids": wanted})
        return {row[0]: row[1] for row in rows}

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
        matches = self._matching(text)
        source: FromClause = products
        grams = query_trigrams(text)
        if grams:
            rarest = self._rarest(grams)
            if rarest is None:  # a trigram no product holds: nothing can match
                return ProductPage(items=[], total=0)
            source = products.join(
                product_trigrams,
                and_(
                    product_trigrams.c.product_id == products.c.id,
                    product_trigrams.c.trigram == rarest,
                ),
            )
        if limit > 0:
            # The page and the total in one statement: a substring match
            # cannot use an index, so every statement is a scan of the
            # catalog, and this needs one instead of two.
            total_column = func.count().over().label("search_total")
            rows = (
                self._connection.execute(
                    select(products, total_column)
                    .select_from(source)
                    .where(matches)
                    .order_by(self._name_in_code_point_order(), products.c.id)
                    .limit(limit)
                    .offset(max(offset, 0))
                )
                .mappings()
                .all()
            )
            if rows:
                total = int(rows[0]["search_total"])
                return ProductPage(items=[_product_from(row) for row in rows], total=total)
        # No page asked for, or past the last match: the count alone.
        total = self._connection.execute(
            select(func.count()).select_from(source).where(matches)
        ).scalar_one()
        return ProductPage(items=[], total=total)

    def _rarest(self, grams: set[str]) -> str | None:
        """The trigram with the fewest products (counted up to RAREST_CAP:
        beyond that, which is rarer hardly matters), or None if one has none."""
        # Digits are rare in names and descriptions: try those trigrams first.
        chosen = sorted(grams, key=lambda g: (not any(c.isdigit() for c in g), g))[:MAX_PROBES]
        probes = [
            select(literal(gram, String()).label("gram"), func.count().label("n")).select_from(
                select(product_trigrams.c.product_id)
                .where(product_trigrams.c.trigram == gram)
                .limit(RAREST_CAP)
                .subquery()
            )
            for gram in chosen
        ]
        counts = self._connection.execute(union_all(*probes)).all()
        gram, count = min(((row.gram, row.n) for row in counts), key=lambda pair: pair[1])
        return None if count == 0 else str(gram)

    @translated
    def count(self) -> int:
        return int(
            self._connection.execute(select(func.count()).select_from(products)).scalar_one()
        )

    @staticmethod
    def _matching(text: str) -> ColumnElement[bool]:
        pattern = CaseFold(literal(contains_pattern(text)))
        return or_(
            CaseFold(products.c.name).like(pattern, escape=LIKE_ESCAPE),
            CaseFold(products.c.description).like(pattern, escape=LIKE_ESCAPE),
        )

    def _name_in_code_point_order(self) -> ColumnElement[str]:
        # MySQL's utf8mb4_bin columns and SQLite already sort by code point,
        # like the in-memory adapter; PostgreSQL's database collation may not.
        if self._connection.dialect.name == "postgresql":
            return products.c.name.collate("C")
        return products.c.name
