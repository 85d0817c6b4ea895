"""Engines for SQLite and PostgreSQL.

On SQLite, write transactions start with ``BEGIN IMMEDIATE`` so that two writers queue on
the busy timeout instead of failing with "database is locked" when a deferred read
transaction tries to upgrade (WAL mode keeps readers unblocked).

Read-only requests use a second engine in autocommit: every statement takes its own
snapshot, as READ COMMITTED gives on PostgreSQL anyway. A transaction around reads would
cost two round trips on PostgreSQL and, on SQLite, hold back the WAL checkpoints of the
writers. Pooled PostgreSQL connections are checked without a round trip (_check_socket).
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from lemur.db.sqlite_lock import BUSY_TIMEOUT_S, SQLiteWriteLock

_LOCK_HELD = "lemur_sqlite_write_lock"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str,
    *,
    immediate: bool = False,
    autocommit: bool = False,
    pool_size: int = 10,
    write_lock: SQLiteWriteLock | None = None,
) -> Engine:
    """Create an engine; ``immediate`` makes SQLite transactions take the write lock at BEGIN,
    ``autocommit`` runs every statement on its own, for read-only sessions."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            hide_parameters=True,  # statement parameters carry hashes and ciphertext
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
            **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
        )
        _configure_sqlite(engine, immediate=immediate, autocommit=autocommit, write_lock=write_lock)
        return engine
    engine = create_engine(
        url,
        hide_parameters=True,  # statement parameters carry hashes and ciphertext
        pool_size=pool_size,
        max_overflow=pool_size,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
        # Read sessions never write: in autocommit, a write would commit on its own.
        **(
            {"connect_args": {"options": "-c default_transaction_read_only=on"}}
            if autocommit
            else {}
        ),
    )
    event.listen(engine, "checkout", _check_socket)
    return engine


def _check_socket(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection the server has closed (restart, idle timeout, terminated
    backend). An idle connection has nothing to read; if its socket is readable or hung up,
    the server said goodbye. Unlike pool_pre_ping's ``SELECT 1`` this costs no round trip;
    the pool replaces the connection and retries."""
    if dbapi_conn.closed:
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


def _configure_sqlite(
    engine: Engine, *, immediate: bool, autocommit: bool, write_lock: SQLiteWriteLock | None
) -> None:
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would BEGIN lazily and
        # deferred); we emit BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        if autocommit:
            # Read sessions never write: a write through one would bypass the write lock.
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    if autocommit:
        return

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if write_lock is not None:
            write_lock.acquire()
            conn.info[_LOCK_HELD] = True
        conn.exec_driver_sql(begin)

    if write_lock is None:
        return

    def _release(conn: Any) -> None:
        if conn.info.pop(_LOCK_HELD, False):
            write_lock.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_conn: Any, record: Any, _state: Any) -> None:
        if record.info.pop(_LOCK_HELD, False):
            write_lock.release()
