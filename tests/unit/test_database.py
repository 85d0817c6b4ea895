"""Connection handling: pooled PostgreSQL connections the server closed are replaced
without a failed request, reads hold no transaction open and refuse writes, and pipelined
writes fail whole."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from lemur.db import Database, UnitOfWork, pipelined
from tests.conftest import PG_ADMIN_DSN


def _backend_pid(conn: object) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())  # type: ignore[attr-defined]


def test_a_connection_the_server_closed_is_replaced_without_an_error(pg_url: str) -> None:
    db = Database.connect(pg_url)
    try:
        for engine in (db.read_engine, db.write_engine):
            with engine.connect() as conn:
                pid = _backend_pid(conn)
            # The connection is idle in the pool when the server ends it (a restart, an
            # idle timeout, an operator's pg_terminate_backend).
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                deadline = time.monotonic() + 5
                while (
                    admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone()
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.01)
            with engine.connect() as conn:
                assert _backend_pid(conn) != pid
                assert conn.execute(text("SELECT 42")).scalar_one() == 42
    finally:
        db.dispose()


def test_read_sessions_leave_no_transaction_open(pg_url: str) -> None:
    db = Database.connect(pg_url)
    try:
        with db.read() as session:
            pid = _backend_pid(session.connection())
            session.execute(text("SELECT count(*) FROM certificates")).scalar_one()
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                state = admin.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
            assert state == ("idle",)
        with db.write() as session:
            pid = _backend_pid(session.connection())
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                state = admin.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
            assert state == ("idle in transaction",)
    finally:
        db.dispose()


def _enter(context: AbstractContextManager[object]) -> None:
    with context:
        pass


def _insert_team_twice_in_a_pipeline(db: Database) -> None:
    insert = text(
        "INSERT INTO teams (id, name, description, created_at) VALUES (:id, 'piped', '', now())"
    )
    with db.write_held() as session:
        session.execute(insert, {"id": 990001})
        with pipelined(session):
            session.execute(insert, {"id": 990002})  # same name: refused, answered late
            session.commit()


def test_a_failure_inside_a_pipeline_leaves_nothing_written(pg_url: str) -> None:
    """Statements in a pipeline are answered late: an error in one (a duplicate team name)
    surfaces at the commit, and the whole transaction is rolled back."""
    db = Database.connect(pg_url)
    try:
        with db.read() as session:
            before = session.execute(text("SELECT count(*) FROM teams")).scalar_one()
        with pytest.raises(IntegrityError):
            _insert_team_twice_in_a_pipeline(db)
        with db.read() as session:
            assert session.execute(text("SELECT count(*) FROM teams")).scalar_one() == before
        # A session whose commit would hand its connection back mid-pipeline is refused.
        with db.write() as session, pytest.raises(RuntimeError, match="write_held"):
            _enter(pipelined(session))
    finally:
        db.dispose()


def test_read_sessions_refuse_writes(database_url: str) -> None:
    """Reads run in autocommit, where a write would commit on its own (and on SQLite skip
    the write lock): the read engine refuses them, on both databases."""
    db = Database.connect(database_url)
    try:
        with db.read() as session, pytest.raises(DBAPIError):
            session.execute(
                text(
                    "INSERT INTO teams (name, description, created_at) "
                    "VALUES ('sneaky', '', CURRENT_TIMESTAMP)"
                )
            )
        with db.read() as session:
            assert (
                session.execute(
                    text("SELECT count(*) FROM teams WHERE name = 'sneaky'")
                ).scalar_one()
                == 0
            )
    finally:
        db.dispose()


_INSERT_TEAM = text(
    "INSERT INTO teams (name, description, created_at) VALUES (:name, '', CURRENT_TIMESTAMP)"
)


def _team_names(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.execute(text("SELECT name FROM teams")).scalars())


def _write_then_fail(uow: UnitOfWork) -> None:
    with uow.write() as tx:
        tx.session.execute(_INSERT_TEAM, {"name": "dropped"})
        raise RuntimeError("boom")


def _write_a_duplicate_pipelined(uow: UnitOfWork) -> None:
    with uow.write() as tx, tx.commit_pipelined():
        tx.session.execute(_INSERT_TEAM, {"name": "again"})
        tx.session.execute(_INSERT_TEAM, {"name": "kept"})  # a duplicate name


def test_a_unit_of_work_commits_its_write_and_rolls_back_a_failed_one(database_url: str) -> None:
    """Services never commit: the unit of work commits when the write block ends and rolls
    back when it raises, so nothing half-written stays (on both databases)."""
    db = Database.connect(database_url)
    try:
        with UnitOfWork(db) as uow:
            assert uow.read.execute(text("SELECT count(*) FROM teams")).scalar_one() == 0
            with uow.write() as tx:
                tx.session.execute(_INSERT_TEAM, {"name": "kept"})
        assert _team_names(db) == {"kept"}
        with UnitOfWork(db) as uow, pytest.raises(RuntimeError, match="boom"):
            _write_then_fail(uow)
        assert _team_names(db) == {"kept"}
        # The pipelined commit: statements and commit together, a failure fails them all.
        with UnitOfWork(db) as uow:
            with uow.write() as tx, tx.commit_pipelined():
                tx.session.execute(_INSERT_TEAM, {"name": "piped"})
            assert tx.committed
        assert _team_names(db) == {"kept", "piped"}
        with UnitOfWork(db) as uow, pytest.raises(IntegrityError):
            _write_a_duplicate_pipelined(uow)
        assert _team_names(db) == {"kept", "piped"}
    finally:
        db.dispose()
