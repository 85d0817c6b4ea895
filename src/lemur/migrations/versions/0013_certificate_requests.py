"""pending requests at external CAs, and ACME HTTP-01 answers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

``certificate_requests``: a request an issuer answered with "pending" (an ACME order, an
AWS Private CA issuance in progress), polled by the ``request.poll`` job until the
certificate is issued, the order fails, or someone cancels it. ``acme_challenges``: the
HTTP-01 key authorizations Lemur serves at ``/.well-known/acme-challenge/{token}``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=2048), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", lemur.db.UTCDateTime(), nullable=True),
        sa.Column("common_name", sa.String(length=255), nullable=True),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("csr", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("created_at", lemur.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", lemur.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", lemur.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["authorities.id"],
            name=op.f("fk_certificate_requests_authority_id_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_requests_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_requests_replaces_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_certificate_requests_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_requests")),
    )
    for column in ("state", "authority_id", "team_id"):
        op.create_index(op.f(f"ix_certificate_requests_{column}"), "certificate_requests", [column])
    op.create_table(
        "acme_challenges",
        sa.Column("token", sa.String(length=255), nullable=False),
        sa.Column("content", sa.String(length=1024), nullable=False),
        sa.Column("created_at", lemur.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_acme_challenges")),
    )
    op.create_index(op.f("ix_acme_challenges_created_at"), "acme_challenges", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_acme_challenges_created_at"), table_name="acme_challenges")
    op.drop_table("acme_challenges")
    for column in ("state", "authority_id", "team_id"):
        op.drop_index(op.f(f"ix_certificate_requests_{column}"), table_name="certificate_requests")
    op.drop_table("certificate_requests")
