"""The order and product repositories on one SQLAlchemy Connection (one
transaction, owned by the unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from orderflow.adapters.sqlalchemy.errors import translated
from orderflow.adapters.sqlalchemy.statements import (
    LIKE_ESCAPE,
    CaseFold,
    contains_pattern,
    insert_new,
)
from orderflow.adapters.sqlalchemy.tables import MYSQL_DIALECTS, orders, products
from orderflow.domain.errors import OrderNotFound, ProductNotFound
from orderflow.domain.model import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Product,
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
    def get(self, order_id: str) -> Order | None:
        return self._one(select(orders).where(orders.c.id == order_id))

    @translated
    def get_for_update(self, order_id: str) -> Order | None:
        # FOR UPDATE is dropped on SQLite, where BEGIN IMMEDIATE already
        # serialises every writer.
        return self._one(select(orders).where(orders.c.id == order_id).with_for_update())

    @translated
    def save(self, order: Order) -> None:
        result = self._connection.execute(
            update(orders)
            .where(orders.c.id == order.id)
            .values(
                status=order.status.value,
                failure_reason=order.failure_reason,
                updated_at=order.updated_at,
                version=order.version,
            )
        )
        if result.rowcount == 0:
            raise OrderNotFound(order.id)

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


class SqlProductRepository(ProductRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @translated
    def upsert(self, product: Product) -> None:
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

    @translated
    def get(self, product_id: str) -> Product | None:
        row = (
            self._connection.execute(select(products).where(products.c.id == product_id))
            .mappings()
            .first()
        )
        return _product_from(row) if row is not None else None

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
        rows = self._connection.execute(
            select(products)
            .where(products.c.id.in_(wanted))
            .order_by(products.c.id)
            .with_for_update()
        ).mappings()
        return {row["id"]: _product_from(row) for row in rows}

    @translated
    def save(self, product: Product) -> None:
        result = self._connection.execute(
            update(products).where(products.c.id == product.id).values(stock=product.stock)
        )
        if result.rowcount == 0:
            raise ProductNotFound(product.id)

    @translated
    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        matches = self._matching(text)
        total = self._connection.execute(
            select(func.count()).select_from(products).where(matches)
        ).scalar_one()
        if limit <= 0 or offset >= total:
            return ProductPage(items=[], total=total)
        rows = self._connection.execute(
            select(products)
            .where(matches)
            .order_by(self._name_in_code_point_order(), products.c.id)
            .limit(limit)
            .offset(max(offset, 0))
        ).mappings()
        return ProductPage(items=[_product_from(row) for row in rows], total=total)

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
