"""trace headers: the propagation headers (trace context) of outbox messages
and notifications.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

One nullable JSON column on the outbox and one on notifications: rows
written before it (and rows written with tracing off) keep NULL, published
or sent without a trace context.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("headers", sa.JSON(), nullable=True))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("trace_headers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("trace_headers")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("headers")
