"""identity: order owners and access-token digests, API keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Two nullable columns on orders (rows written before keep NULL: no owner, no
token, readable by an ops key only) with the index of GET /api/orders, and
the api_keys table. Idempotency records need no change: their key column now
holds the SHA-256 of (principal scope, key), which fits the old column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _timestamp() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("access_token_digest", sa.String(64), nullable=True))
    op.create_index(op.f("ix_orders_owner_created_at_id"), "orders", ["owner", "created_at", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
        sa.UniqueConstraint("secret_digest", name=op.f("uq_api_keys_secret_digest")),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_orders_owner_created_at_id"), table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("access_token_digest")
        batch.drop_column("owner")
