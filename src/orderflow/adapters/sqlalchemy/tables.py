"""The relational schema as SQLAlchemy Core tables.

The repositories query through these; the schema itself is created by the
Alembic migrations (migrations/versions), which must stay in step with this
module (`alembic check` compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine

MYSQL_DIALECTS = ("mysql", "mariadb")

# Every table on MySQL/MariaDB: InnoDB, full Unicode, and binary collation so
# that ids and keys compare exactly (as on the other backends) and names sort
# by code point (as on SQLite and in memory). Case-insensitive matching is
# done explicitly in the queries.
MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime with microseconds on every backend.

    PostgreSQL stores TIMESTAMPTZ. MySQL's DATETIME keeps neither the zone
    nor (without fsp=6) microseconds, and SQLite stores text, so those get
    naive UTC values and the zone is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL_DIALECTS:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | str | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime: {value!r}")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        naive = value.replace(tzinfo=None)
        if dialect.name in MYSQL_DIALECTS:
            # The very literal PyMySQL makes of a naive datetime
            # ('YYYY-MM-DD HH:MM:SS[.ffffff]'), without its str.format over
            # seven fields, the costliest value it escapes.
            return naive.isoformat(" ")
        return naive

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def money(precision: int = 12) -> Numeric[Any]:
    return Numeric(precision, 2, asdecimal=True)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid).
AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

products = Table(
    "products",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("price", money(), nullable=False),
    Column("stock", Integer, nullable=False),
    CheckConstraint("stock >= 0", name="stock_not_negative"),
    CheckConstraint("price >= 0", name="price_not_negative"),
    # Serves the ordering of search results (name, then id) and listing.
    Index(None, "name", "id"),
    **MYSQL_TABLE_OPTIONS,
)

# The search index of products (search_index.py): one row per product and
# trigram of its name and description, with the product's name, so that the
# key reads the products holding a trigram in search order (name, then id).
product_trigrams = Table(
    "product_trigrams",
    metadata,
    Column("trigram", String(3), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    **MYSQL_TABLE_OPTIONS,
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer_name", String(255), nullable=False),
    Column("customer_email", String(320), nullable=False),
    Column("customer_address", Text, nullable=False),
    Column("payment_method", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_reason", Text, nullable=True),
    # Wider than a price: up to 100 lines of 1000 units each.
    Column("total", money(18), nullable=False),
    Column("items", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    # The status timeline, [{status, at, reason}]; NULL for rows written
    # before revision 0002, whose timeline is derived on read.
    Column("history", JSON, nullable=True),
    # Who placed it (`customer:<sub>`, `key:<id>`; NULL: anonymous) and the
    # SHA-256 of its access token; NULL for rows written before revision 0006.
    Column("owner", String(255), nullable=True),
    Column("access_token_digest", String(64), nullable=True),
    # Units held from stock, {product_id: quantity}: what a cancel gives
    # back. NULL for rows written before revision 0007, derived on read.
    Column("reserved", JSON, nullable=True),
    # The stuck-order sweeper: WHERE status IN (...) AND updated_at < ? ORDER BY updated_at.
    Index(None, "status", "updated_at"),
    # GET /api/orders: WHERE owner = ? ORDER BY created_at DESC, id DESC.
    Index(None, "owner", "created_at", "id"),
    **MYSQL_TABLE_OPTIONS,
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", AutoIncrementId, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("type_name", String(100), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    # Propagation headers (trace context); NULL without (revision 0008).
    Column("headers", JSON, nullable=True),
    UniqueConstraint("message_id"),
    # The relay: WHERE published_at IS NULL ORDER BY seq; also the purge.
    Index(None, "published_at", "seq"),
    sqlite_autoincrement=True,  # never reuse a seq, even after a purge
    **MYSQL_TABLE_OPTIONS,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(128), nullable=False),
    Column("order_id", String(36), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "created_at"),  # the purge of expired keys
    **MYSQL_TABLE_OPTIONS,
)

# Services' credentials (ports/api_keys.py): the secret's SHA-256, never the secret.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    UniqueConstraint("name"),
    UniqueConstraint("secret_digest"),
    **MYSQL_TABLE_OPTIONS,
)

# Customer notifications and their delivery state (ports/notifier.py,
# NotificationLedger). One row per notification id: the at-most-once gate.
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    # Trace context of the processing that staged it; NULL without (revision 0008).
    Column("trace_headers", JSON, nullable=True),
    # The token of the claim that took it (a uuid4), so a dispatcher whose
    # claim's answer was lost can give that claim back (revision 0009).
    Column("claimed_by", String(36), nullable=True),
    # The dispatcher: WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at.
    Index(None, "state", "next_attempt_at"),
    **MYSQL_TABLE_OPTIONS,
)
