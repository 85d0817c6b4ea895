"""Running Alembic migrations from code, and telling whether the schema is current."""

from __future__ import annotations

import functools
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from lemur.certificates.models import SQLITE_SEARCH_TABLE


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "lemur:migrations")
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


@functools.cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Alembic's include_object hook: skip schema items declared for another database only
    (``.ddl_if(dialect=...)``, e.g. PostgreSQL's trigram index), so comparing models with a
    SQLite database does not ask for an index SQLite cannot have; and skip the search index
    SQLite keeps itself with triggers."""

    def include(
        obj: object, name: str | None, type_: str, _reflected: bool, _other: object
    ) -> bool:
        if type_ == "table" and name is not None and name.startswith(SQLITE_SEARCH_TABLE):
            return False  # SQLite's FTS5 search index and its shadow tables (migration 0004)
        condition = getattr(obj, "_ddl_if", None)
        wanted = getattr(condition, "dialect", None)
        return wanted is None or wanted == dialect

    return include
