"""Alembic environment: the connection is always handed in by lemur.migrate."""

from __future__ import annotations

from alembic import context

import lemur.models  # noqa: F401  (registers every table on Base.metadata)
from lemur.db import Base
from lemur.migrate import include_object_for

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object_for(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
