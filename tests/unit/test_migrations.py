"""The Alembic migrations on SQLite: upgrade() builds the whole schema that
tables.py describes, and running it again changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.migrate import current_revision, head_revision, upgrade
from orderflow.adapters.sqlalchemy.tables import metadata
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.domain.model import OrderStatus
from tests.contracts.persistence_contract import T0, a_product, an_order

TABLES = {
    "products",
    "product_trigrams",
    "orders",
    "outbox",
    "idempotency_keys",
    "notifications",
    "api_keys",
}


def _schema(url: str) -> dict[str, dict[str, list[Any]]]:
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {
            table: {
                "columns": [(c["name"], str(c["type"])) for c in inspector.get_columns(table)],
                "indexes": sorted(i["name"] or "" for i in inspector.get_indexes(table)),
                "unique": sorted(u["name"] or "" for u in inspector.get_unique_constraints(table)),
            }
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_and_index_in_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert current_revision(url) is None

    upgrade(url)

    schema = _schema(url)
    assert set(schema) == TABLES | {"alembic_version"}
    assert schema["products"]["indexes"] == ["ix_products_name_id"]
    assert sorted(schema["orders"]["indexes"]) == [
        "ix_orders_owner_created_at_id",
        "ix_orders_status_updated_at",
    ]
    assert sorted(schema["api_keys"]["unique"]) == [
        "uq_api_keys_name",
        "uq_api_keys_secret_digest",
    ]
    assert schema["outbox"]["indexes"] == ["ix_outbox_published_at_seq"]
    assert schema["outbox"]["unique"] == ["uq_outbox_message_id"]
    assert schema["idempotency_keys"]["indexes"] == ["ix_idempotency_keys_created_at"]
    assert schema["notifications"]["indexes"] == ["ix_notifications_state_next_attempt_at"]
    assert current_revision(url) == head_revision() is not None


def test_upgrade_creates_missing_parent_directories(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'orderflow' / 'orderflow.sqlite3'}"
    upgrade(url)
    assert current_revision(url) == head_revision()


def test_running_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.sqlite3'}"
    upgrade(url)
    factory = SqlUnitOfWorkFactory.from_url(url)
    try:
        with factory() as uow:
            uow.products.upsert(a_product())
            uow.commit()
        before = _schema(url)

        upgrade(url)

        assert _schema(url) == before
        assert current_revision(url) == head_revision()
        with factory() as uow:
            assert uow.products.count() == 1
    finally:
        factory.close()


def test_the_migrated_schema_matches_the_table_definitions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'check.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_revision_0002_keeps_old_orders_readable_with_a_derived_timeline(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0001")
    order = an_order(status=OrderStatus.COMPLETED, updated_at=T0 + timedelta(minutes=1))
    engine = make_engine(url)
    try:
        with engine.begin() as connection:  # a row as the 0001 code wrote it
            connection.execute(
                text(
                    "INSERT INTO orders (id, customer_name, customer_email, customer_address,"
                    " payment_method, status, failure_reason, total, items, created_at,"
                    " updated_at, version) VALUES (:id, 'Ada', 'a@b.c', 'x', 'card',"
                    " 'completed', NULL, 999, :items, :created, :updated, 3)"
                ),
                {
                    "id": order.id,
                    "items": '[{"product_id": "laptop", "quantity": 1, "unit_price": "999.00"}]',
                    "created": "2024-05-17 12:30:45.123456",
                    "updated": "2024-05-17 12:31:45.123456",
                },
            )
    finally:
        engine.dispose()

    upgrade(url)

    assert current_revision(url) == head_revision()
    factory = SqlUnitOfWorkFactory.from_url(url)
    try:
        with factory() as uow:
            stored = uow.orders.get(order.id)
        assert stored is not None
        assert [(t.status, t.at) for t in stored.history] == [
            (OrderStatus.PENDING, T0),
            (OrderStatus.PROCESSING, T0 + timedelta(minutes=1)),
            (OrderStatus.COMPLETED, T0 + timedelta(minutes=1)),
        ]
    finally:
        factory.close()
