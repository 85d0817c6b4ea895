"""certificates and authorities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("plugin_slug", sa.String(length=64), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("has_key", sa.Boolean(), nullable=False),
        sa.Column("cab_forum", sa.Boolean(), nullable=False),
        sa.Column("default_validity_days", sa.Integer(), nullable=False),
        sa.Column("max_validity_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", lemur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("crl_number", sa.Integer(), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=True),
        sa.Column("crl_next_update", lemur.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("crl_stale", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["authorities.id"], name=op.f("fk_authorities_parent_id_authorities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorities")),
        sa.UniqueConstraint("name", name=op.f("uq_authorities_name")),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("fingerprint_sha1", sa.String(length=40), nullable=False),
        sa.Column("serial_hex", sa.String(length=42), nullable=False),
        sa.Column("common_name", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("issuer_common_name", sa.String(length=255), nullable=True),
        sa.Column("not_before", lemur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_after", lemur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("key_size", sa.Integer(), nullable=False),
        sa.Column("key_spec", sa.String(length=16), nullable=True),
        sa.Column("signature_algorithm", sa.String(length=64), nullable=False),
        sa.Column("is_ca", sa.Boolean(), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("authority_id", sa.Integer(), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("has_private_key", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", lemur.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("lineage_id", sa.Integer(), nullable=True),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", lemur.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["authorities.id"],
            name=op.f("fk_certificates_authority_id_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["replaced_by_id"],
            ["certificates.id"],
            name=op.f("fk_certificates_replaced_by_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["certificates.id"],
            name=op.f("fk_certificates_replaces_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_certificates_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("fingerprint_sha256", name=op.f("uq_certificates_fingerprint_sha256")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificates_authority_not_after", ["authority_id", "not_after"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificates_fingerprint_sha1"), ["fingerprint_sha1"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificates_lineage_id"), ["lineage_id"], unique=False
        )
        batch_op.create_index("ix_certificates_not_after_id", ["not_after", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_certificates_replaced_by_id"), ["replaced_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificates_serial_hex"), ["serial_hex"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_certificates_team_id"), ["team_id"], unique=False)
        batch_op.create_index(
            "ix_certificates_team_not_after", ["team_id", "not_after"], unique=False
        )

    op.create_table(
        "certificate_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_names_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_names")),
        sa.UniqueConstraint(
            "certificate_id", "kind", "name", name=op.f("uq_certificate_names_certificate_id")
        ),
    )
    with op.batch_alter_table("certificate_names", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificate_names_name_certificate_id", ["name", "certificate_id"], unique=False
        )

    op.create_table(
        "private_keys",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("key_spec", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", lemur.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_private_keys_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_private_keys")),
    )
    # authorities <-> certificates reference each other: add this side once both exist.
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_authorities_certificate_id_certificates", "certificates", ["certificate_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("authorities", schema=None) as batch_op:
        batch_op.drop_constraint("fk_authorities_certificate_id_certificates", type_="foreignkey")
    op.drop_table("private_keys")
    with op.batch_alter_table("certificate_names", schema=None) as batch_op:
        batch_op.drop_index("ix_certificate_names_name_certificate_id")

    op.drop_table("certificate_names")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_team_not_after")
        batch_op.drop_index(batch_op.f("ix_certificates_team_id"))
        batch_op.drop_index(batch_op.f("ix_certificates_serial_hex"))
        batch_op.drop_index(batch_op.f("ix_certificates_replaced_by_id"))
        batch_op.drop_index("ix_certificates_not_after_id")
        batch_op.drop_index(batch_op.f("ix_certificates_lineage_id"))
        batch_op.drop_index(batch_op.f("ix_certificates_fingerprint_sha1"))
        batch_op.drop_index("ix_certificates_authority_not_after")

    op.drop_table("certificates")
    op.drop_table("authorities")
