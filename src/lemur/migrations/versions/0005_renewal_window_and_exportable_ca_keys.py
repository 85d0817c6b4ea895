"""renewal window column; exportable CA keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``certificates.renew_after``: the start of a certificate's renewal window (the last third
of its lifetime, at most 30 days; lemur.certificates.renewal), computed at insert and
indexed, so that ``status=expiring`` is an index range rather than an expression per row.
Existing rows are backfilled: in one UPDATE on PostgreSQL, in batches computed by the same
Python function on SQLite (which has no interval arithmetic on the stored text form).

``authorities.exportable``: whether a CA's private key may be exported; false for every
existing authority, the first-start local CAs included.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lemur.db
from lemur.certificates.renewal import renew_after

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000
# The column is NOT NULL: existing rows first get this placeholder, then their value.
PLACEHOLDER = "1970-01-01 00:00:00"


def _backfill_sqlite() -> None:
    certificates = sa.table(
        "certificates",
        sa.column("id", sa.Integer()),
        sa.column("not_before", lemur.db.UTCDateTime()),
        sa.column("not_after", lemur.db.UTCDateTime()),
        sa.column("renew_after", lemur.db.UTCDateTime()),
    )
    conn = op.get_bind()
    update = (
        certificates.update()
        .where(certificates.c.id == sa.bindparam("row_id"))
        .values(renew_after=sa.bindparam("value"))
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(certificates.c.id, certificates.c.not_before, certificates.c.not_after)
            .where(certificates.c.id > last)
            .order_by(certificates.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(update, [{"row_id": i, "value": renew_after(nb, na)} for i, nb, na in rows])
        last = rows[-1][0]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "authorities",
        sa.Column("exportable", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "certificates",
        sa.Column(
            "renew_after",
            lemur.db.UTCDateTime(timezone=True),
            nullable=False,
            server_default=sa.text(f"'{PLACEHOLDER}'"),
        ),
    )
    if dialect == "postgresql":
        op.execute(
            "UPDATE certificates SET renew_after = not_after - "
            "LEAST((not_after - not_before) / 3, interval '30 days')"
        )
        # Lemur always writes both columns; SQLite cannot drop a default without
        # rebuilding the table, and there the default is never used either.
        op.alter_column("certificates", "renew_after", server_default=None)
        op.alter_column("authorities", "exportable", server_default=None)
    else:
        _backfill_sqlite()
    op.create_index("ix_certificates_renew_after", "certificates", ["renew_after"])


def downgrade() -> None:
    op.drop_index("ix_certificates_renew_after", table_name="certificates")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch rebuild of certificates
    # would have to recreate every table that references it.
    op.execute("ALTER TABLE certificates DROP COLUMN renew_after")
    op.execute("ALTER TABLE authorities DROP COLUMN exportable")
