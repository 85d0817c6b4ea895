"""Shared fixtures: a real database per test on SQLite and on PostgreSQL.

PostgreSQL: each xdist worker creates its own database once (dropped at the end), migrates
it, and empties the tables between tests. SQLite: a migrated template file is copied for
each test. Tests that use ``container`` run once per backend.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from lemur.accounts.passwords import PasswordHasher
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, InitReport, build_container
from lemur.crypto.keyring import generate_key
from lemur.db import Base, Database
from lemur.migrate import upgrade

# One Chromium per worker, registered once: a fixture imported into two modules would be two
# session fixtures, and a second sync Playwright in one process refuses to start.
pytest_plugins = ["tests.peers.browser", "tests.peers.cfssl", "tests.peers.pebble"]

PG_ADMIN_DSN = os.environ.get("LEMUR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
START = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
# argon2id with small costs: the tests check behaviour, not the work factor.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024)


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one server under test; yields its SQLAlchemy URL
    and drops it afterwards (connections still open, or refused, included)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"lemur_test_{_worker()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    db = Database.connect(url)
    upgrade(db.write_engine)
    db.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "lemur.db"
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db.write_engine)
    db.dispose()
    return path


def _empty_postgres(url: str) -> None:
    import lemur.models  # noqa: F401

    db = Database.connect(url)
    try:
        with db.write_engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(
                text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
            )
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "data" / "lemur.db"
        target.parent.mkdir(mode=0o700)
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    (tmp_path / "data").mkdir(mode=0o700, exist_ok=True)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        login_max_failures_per_account=3,
        login_max_failures_per_address=6,
        # Job tests start a runner themselves; other tests see no background work.
        run_jobs=False,
    )


@pytest.fixture
def init_report() -> InitReport:
    return InitReport()


@pytest.fixture
def container(
    settings: Settings, clock: FrozenClock, init_report: InitReport
) -> Iterator[Container]:
    c = build_container(settings, init=True, clock=clock, hasher=FAST_HASHER, report=init_report)
    yield c
    c.close()


@pytest.fixture
def env_keys() -> str:
    return generate_key()
