"""trigram index for name substring search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Name substring search (``name_contains``) is ``LIKE '%...%'``, which a B-tree cannot serve.
On PostgreSQL a pg_trgm GIN index can (pg_trgm is a trusted extension since PostgreSQL 13,
so the database owner may create it). SQLite has no equivalent index type.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX ix_certificate_names_name_trgm ON certificate_names "
        "USING gin (name gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_certificate_names_name_trgm")
