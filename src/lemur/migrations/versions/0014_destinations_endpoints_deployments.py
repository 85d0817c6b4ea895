"""destinations, their endpoints, certificates' destinations and deployments

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

``destinations``: configured destination plugins (options with secrets encrypted);
``destination_endpoints``: where a destination's certificate is served (TLS host:port with
SNI, or a load balancer listener), with the fingerprint last seen there;
``certificate_destinations``: where each certificate belongs; ``deployments``: one
certificate at one destination, its state, reference and the certificate it replaced.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificate_requests") as batch_op:
        batch_op.add_column(
            sa.Column("destinations", sa.Text(), nullable=False, server_default="[]")
        )
    op.create_table(
        "destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_at", lemur.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", lemur.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_destinations_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destinations")),
        sa.UniqueConstraint("name", name=op.f("uq_destinations_name")),
    )
    with op.batch_alter_table("destinations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_destinations_team_id"), ["team_id"], unique=False)

    op.create_table(
        "certificate_destinations",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("added_at", lemur.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_destinations_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name=op.f("fk_certificate_destinations_destination_id_destinations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "certificate_id", "destination_id", name=op.f("pk_certificate_destinations")
        ),
    )
    with op.batch_alter_table("certificate_destinations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_destinations_destination_id"),
            ["destination_id"],
            unique=False,
        )

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=2048), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", lemur.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lemur.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deployed_at", lemur.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("verified_at", lemur.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_deployments_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name=op.f("fk_deployments_destination_id_destinations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["certificates.id"],
            name=op.f("fk_deployments_previous_id_certificates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint(
            "certificate_id", "destination_id", name=op.f("uq_deployments_certificate_id")
        ),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployments_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index(
            "ix_deployments_destination_state", ["destination_id", "state"], unique=False
        )

    op.create_table(
        "destination_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("sni", sa.String(length=255), nullable=False),
        sa.Column("listener", sa.String(length=2048), nullable=False),
        sa.Column("last_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("last_seen_at", lemur.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", lemur.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name=op.f("fk_destination_endpoints_destination_id_destinations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destination_endpoints")),
        sa.UniqueConstraint(
            "destination_id",
            "kind",
            "host",
            "port",
            "sni",
            "listener",
            name=op.f("uq_destination_endpoints_destination_id"),
        ),
    )
    with op.batch_alter_table("destination_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_destination_endpoints_destination_id"), ["destination_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_destination_endpoints_last_fingerprint"),
            ["last_fingerprint"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("destination_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_destination_endpoints_last_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_destination_endpoints_destination_id"))

    op.drop_table("destination_endpoints")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index("ix_deployments_destination_state")
        batch_op.drop_index(batch_op.f("ix_deployments_certificate_id"))

    op.drop_table("deployments")
    with op.batch_alter_table("certificate_destinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_destinations_destination_id"))

    op.drop_table("certificate_destinations")
    with op.batch_alter_table("destinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_destinations_team_id"))

    op.drop_table("destinations")
    with op.batch_alter_table("certificate_requests") as batch_op:
        batch_op.drop_column("destinations")
