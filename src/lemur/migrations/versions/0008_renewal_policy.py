"""renewal policy: per authority, overridable per team and per certificate

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

``renewal_policy`` ("auto" renews inside the renewal window, "notify" only tells the owners)
and ``renew_before_days`` (a window of that many days instead of the standard one) on
authorities, teams and certificates; NULL means "inherit" (certificate, then team, then
authority). Authorities default to "auto". ``certificates.renewal_manual_at`` records that
the renewal pass told a certificate's owners Lemur will not renew it itself (once).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "authorities",
        sa.Column("renewal_policy", sa.String(length=16), server_default="auto", nullable=True),
    )
    op.add_column("authorities", sa.Column("renew_before_days", sa.Integer(), nullable=True))
    op.add_column("teams", sa.Column("renewal_policy", sa.String(length=16), nullable=True))
    op.add_column("teams", sa.Column("renew_before_days", sa.Integer(), nullable=True))
    op.add_column("certificates", sa.Column("renewal_policy", sa.String(length=16), nullable=True))
    op.add_column("certificates", sa.Column("renew_before_days", sa.Integer(), nullable=True))
    op.add_column(
        "certificates", sa.Column("renewal_manual_at", lemur.db.UTCDateTime(), nullable=True)
    )
    # Partial: only certificates with an override (few), so issuance pays nothing for it.
    op.create_index(
        "ix_certificates_renew_before_days",
        "certificates",
        ["renew_before_days"],
        postgresql_where=sa.text("renew_before_days IS NOT NULL"),
        sqlite_where=sa.text("renew_before_days IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_certificates_renew_before_days", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("renewal_manual_at")
        batch.drop_column("renew_before_days")
        batch.drop_column("renewal_policy")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("renew_before_days")
        batch.drop_column("renewal_policy")
    with op.batch_alter_table("authorities") as batch:
        batch.drop_column("renew_before_days")
        batch.drop_column("renewal_policy")
