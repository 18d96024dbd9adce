"""The product's name in its search-index rows, keyed (trigram, name,
product_id): the products holding a trigram can then be read in name order,
so a search's page stops at its last match instead of sorting every
candidate (repositories.SqlProductRepository.search).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

The names come from `products` in one statement (a correlated subquery,
which every supported database runs). On SQLite the key change recreates
the table (Alembic's batch mode); MariaDB and PostgreSQL alter it in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = "pk_product_trigrams"


def upgrade() -> None:
    with op.batch_alter_table("product_trigrams") as batch:
        batch.add_column(sa.Column("name", sa.String(255), nullable=False, server_default=""))
    # Every indexed product exists (products are never deleted); COALESCE
    # only keeps the statement within NOT NULL should one not.
    op.execute(
        "UPDATE product_trigrams SET name = COALESCE((SELECT products.name FROM products"
        " WHERE products.id = product_trigrams.product_id), '')"
    )
    with op.batch_alter_table("product_trigrams") as batch:
        batch.alter_column("name", existing_type=sa.String(255), server_default=None)
        batch.drop_constraint(_PK, type_="primary")
        batch.create_primary_key(_PK, ["trigram", "name", "product_id"])


def downgrade() -> None:
    with op.batch_alter_table("product_trigrams") as batch:
        batch.drop_constraint(_PK, type_="primary")
        batch.drop_column("name")
        batch.create_primary_key(_PK, ["trigram", "product_id"])
