"""certificate description and archive

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

``certificates.description``: what its owners say a certificate is for (plain text, at most
1000 characters, checked by the API). ``certificates.archived_at`` / ``archived_by``: an
archived certificate is kept (readable by id, still on its CRL) but hidden from the
inventory's default lists and searches, and skipped by the renewal pass and expiry notices.

No index: the default lists filter on ``archived_at IS NULL``, which nearly every row
satisfies, so the (not_after, id) walk they already do serves it as it is; an index on the
column would only tempt SQLite's planner away from that walk (docs/decisions/0015, with the
before/after figures of bench/inventory.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("certificates", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("certificates", sa.Column("archived_at", lemur.db.UTCDateTime(), nullable=True))
    op.add_column("certificates", sa.Column("archived_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("archived_by")
        batch.drop_column("archived_at")
        batch.drop_column("description")
