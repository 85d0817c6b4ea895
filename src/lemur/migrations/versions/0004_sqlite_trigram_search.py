"""trigram search index for names on SQLite

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

The SQLite counterpart of 0003: an FTS5 table with the trigram tokenizer (SQLite 3.34+)
over certificate_names, kept in step by triggers, serves ``LIKE '%...%'`` for needles of
three characters or more. PostgreSQL has its pg_trgm index instead.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    "CREATE VIRTUAL TABLE certificate_names_trgm USING fts5("
    "name, content='certificate_names', content_rowid='id', tokenize='trigram')",
    "INSERT INTO certificate_names_trgm(certificate_names_trgm) VALUES ('rebuild')",
    "CREATE TRIGGER certificate_names_trgm_insert AFTER INSERT ON certificate_names BEGIN "
    "INSERT INTO certificate_names_trgm(rowid, name) VALUES (new.id, new.name); END",
    "CREATE TRIGGER certificate_names_trgm_delete AFTER DELETE ON certificate_names BEGIN "
    "INSERT INTO certificate_names_trgm(certificate_names_trgm, rowid, name) "
    "VALUES ('delete', old.id, old.name); END",
    "CREATE TRIGGER certificate_names_trgm_update AFTER UPDATE ON certificate_names BEGIN "
    "INSERT INTO certificate_names_trgm(certificate_names_trgm, rowid, name) "
    "VALUES ('delete', old.id, old.name); "
    "INSERT INTO certificate_names_trgm(rowid, name) VALUES (new.id, new.name); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS certificate_names_trgm_{trigger}")
    op.execute("DROP TABLE IF EXISTS certificate_names_trgm")
