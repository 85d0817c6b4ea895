"""The database object: the read and write session factories of one installation, and the
PostgreSQL pipeline for statements whose results are not read (docs/decisions/0008)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from lemur.db.engines import is_sqlite, make_engine
from lemur.db.sqlite_lock import SQLiteWriteLock


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
