"""The Alembic migrations build exactly the schema the models declare, on both databases,
and downgrade cleanly (so a failed release can be rolled back)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import lemur.models  # noqa: F401
from lemur.db import Base, Database
from lemur.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    include_object_for,
    upgrade,
)


def test_migrations_match_models_and_round_trip(database_url: str) -> None:
    db = Database.connect(database_url)
    try:
        assert current_revision(db.write_engine) == head_revision()
        with db.write_engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        "include_object": include_object_for(conn.dialect.name),
                    },
                ),
                Base.metadata,
            )
        assert diff == [], f"models and migrations differ: {diff}"
        cfg = alembic_config()
        with db.write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert current_revision(db.write_engine) is None
        upgrade(db.write_engine)
        assert current_revision(db.write_engine) == head_revision()
    finally:
        db.dispose()
