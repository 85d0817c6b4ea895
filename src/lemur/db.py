"""Database plumbing: declarative base, a UTC datetime type, engines and sessions.

SQLite and PostgreSQL are both first-class. On SQLite, write transactions start with
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of failing with
"database is locked" when a deferred read transaction tries to upgrade (WAL mode keeps
readers unblocked).

Read-only requests use a second engine in autocommit: every statement takes its own
snapshot, as READ COMMITTED gives on PostgreSQL anyway. A transaction around reads would
cost two round trips on PostgreSQL and, on SQLite, hold back the WAL checkpoints of the
writers. Pooled PostgreSQL connections are checked without a round trip (_check_socket).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

BUSY_TIMEOUT_S = 30
_LOCK_HELD = "lemur_sqlite_write_lock"
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC; always returns aware UTC datetimes.

    SQLite has no time zones, so values are normalised to UTC on the way in and tagged
    as UTC on the way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


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


@contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """On PostgreSQL, send the statements run inside in psycopg's pipeline mode: they
    travel together and the server answers them together, in one round trip. Only for
    statements whose results are not read (SQLAlchemy inspects a result at once, before a
    pipeline has it); a commit inside is part of the same trip. No effect on SQLite."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    # The pipeline must end before the connection can serve anyone else; a session from
    # Database.write() hands its connection back to the pool at commit.
    if session.bind is not connection:
        raise RuntimeError("pipelined() needs a session from Database.write_held()")
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    with dbapi_connection.pipeline():
        yield


class SQLiteWriteLock:
    """Serialises SQLite write transactions across threads and processes.

    SQLite's own busy handler polls with sleeps of up to 100 ms, so under concurrent writes
    most of the waiting is sleeping. A kernel file lock (plus a thread lock, as flock is
    per open file description) wakes the next writer the moment the previous one finishes.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def acquire(self) -> None:
        # Same limit as SQLite's busy timeout: a writer that waits this long gets the error
        # SQLite would have given, instead of waiting forever.
        if not self._thread_lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise OperationalError(
                "BEGIN IMMEDIATE", None, Exception("database is locked (write lock timeout)")
            )
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextmanager
def _closing(session: Session) -> Iterator[Session]:
    """Close the session at the end, even when its connection died: the rollback on close
    then fails with a disconnect, although there is nothing left to roll back (the server
    ended the transaction with the connection). Raising it would replace the answer already
    given (an API response, often already sent) with an error about nothing."""
    try:
        yield session
    finally:
        try:
            session.close()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise


@dataclass(frozen=True)
class Database:
    """The two session factories: ``read()`` for queries, ``write()`` for use cases."""

    url: str
    read_engine: Engine
    write_engine: Engine
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]
    _write_lock: SQLiteWriteLock | None = None

    @classmethod
    def connect(cls, url: str) -> Database:
        lock = None
        if is_sqlite(url):
            database = make_url(url).database
            if database and database != ":memory:":
                lock = SQLiteWriteLock(database + "-writelock")
            read_engine = make_engine(url, autocommit=True)
            write_engine = make_engine(url, immediate=True, write_lock=lock)
        else:
            read_engine = make_engine(url, autocommit=True)
            write_engine = make_engine(url)
        return cls(
            url=url,
            read_engine=read_engine,
            write_engine=write_engine,
            _read=sessionmaker(read_engine, expire_on_commit=False),
            _write=sessionmaker(write_engine, expire_on_commit=False),
            _write_lock=lock,
        )

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _closing(self._read()) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session for one use case; the service commits, anything uncommitted rolls back."""
        with _closing(self._write()) as session:
            yield session

    @contextmanager
    def write_held(self) -> Iterator[Session]:
        """write(), with the session bound to one connection until the block ends (a commit
        does not hand it back to the pool), as pipelined() needs. On SQLite, write()."""
        if self.dialect != "postgresql":
            with self.write() as session:
                yield session
            return
        connection = self.write_engine.connect()
        try:
            with _closing(Session(bind=connection, expire_on_commit=False)) as session:
                yield session
        finally:
            try:
                connection.close()
            except DBAPIError as exc:  # as in _closing
                if not exc.connection_invalidated:
                    raise

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()
