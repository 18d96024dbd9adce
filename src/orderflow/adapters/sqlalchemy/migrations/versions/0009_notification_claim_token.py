"""notification claim token: the claim that took each notification record.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

One nullable column on notifications: NotificationLedger.claim_due writes
its claim's token (a uuid4) on every record it claims, so a dispatcher whose
claim committed but whose answer was lost can put exactly those records back
(release_claim). Rows written before it keep NULL: a claim made by an older
dispatcher is never released, it turns unknown after its lease as before.
No index: a release looks among the records in state 'sending', which the
(state, next_attempt_at) index finds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("claimed_by")
