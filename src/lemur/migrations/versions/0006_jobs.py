"""jobs: the outbox and queue of everything that happens after a request

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("unique_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", lemur.db.UTCDateTime(), nullable=False),
        sa.Column("created_at", lemur.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", lemur.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", lemur.db.UTCDateTime(), nullable=True),
        sa.Column("lease_until", lemur.db.UTCDateTime(), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dispatched_at", lemur.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("unique_key", name=op.f("uq_jobs_unique_key")),
    )
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])
    op.create_index("ix_jobs_kind_state_id", "jobs", ["kind", "state", "id"])
    op.create_index("ix_jobs_state_id", "jobs", ["state", "id"])


def downgrade() -> None:
    op.drop_table("jobs")
