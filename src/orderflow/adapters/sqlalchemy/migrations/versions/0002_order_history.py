"""orders.history: the status timeline of each order.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

A nullable JSON column: rows written before this revision keep NULL and the
repository derives their timeline from created_at/updated_at on read, so the
upgrade needs no data migration and old code can still write rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("history", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("history")
