"""The trigram index of product names and descriptions (search_index.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

The backfill uses its own copy of the trigram rule: a revision is a frozen
record, whatever search_index.py says later.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
_RUN = re.compile(r"[a-z0-9]+")


def _trigrams(*texts: str) -> set[str]:
    found: set[str] = set()
    for text in texts:
        for run in _RUN.findall(text.casefold()):
            found.update(run[i : i + 3] for i in range(len(run) - 2))
    return found


def upgrade() -> None:
    table = op.create_table(
        "product_trigrams",
        sa.Column("trigram", sa.String(3), nullable=False),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("trigram", "product_id", name=op.f("pk_product_trigrams")),
        **_MYSQL,
    )
    connection = op.get_bind()
    products = connection.execute(sa.text("SELECT id, name, description FROM products"))
    rows: list[dict[str, str]] = []
    for product_id, name, description in products:
        rows.extend({"trigram": g, "product_id": product_id} for g in _trigrams(name, description))
        if len(rows) >= 10_000:
            op.bulk_insert(table, rows)
            rows = []
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("product_trigrams")
