"""outbox headers: the propagation headers (trace context) of each message.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06

One nullable JSON column on the outbox: rows written before it (and rows
written with tracing off) keep NULL, published without headers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("headers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("headers")
