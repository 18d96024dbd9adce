"""orders.reserved: the units each order holds from stock.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

A nullable JSON column, {product_id: quantity}: what cancelling the order
puts back in stock. Rows written before this revision keep NULL and the
repository derives it from the status on read (only completing takes stock,
every line at once), so the upgrade needs no data migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("reserved", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("reserved")
