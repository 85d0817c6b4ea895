"""Is the database this server answers from the one it started with, and usable?

Two marks, taken at start-up:

- an instance id, a random value written into the database by ``lemur init`` (encrypted in
  ``app_secrets`` like the session secret, so a backup restores it and key rotation
  re-encrypts it). /ready reads it back: another database at the same address, even one
  with the right schema, is noticed.
- on SQLite, the file's identity (device and inode). A file removed, moved away or replaced
  under a running server is otherwise invisible to it: SQLite keeps reading and writing the
  open file, so acknowledged writes would land in a file nobody will ever open again. The
  guard compares the identity whenever a pooled connection is handed out and refuses every
  connection once it changed (503 ``database_unavailable``) until the server is restarted
  on the file now at the path.

/ready also reports a SQLite disk too full for SQLite to grow the database or its journal.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError

from lemur.accounts.models import AppSecret
from lemur.clock import Clock
from lemur.crypto.keyring import KeyRing
from lemur.db import Database, is_sqlite

INSTANCE_SECRET = "instance"
# Less free space than this and SQLite may fail to grow the database or its WAL file.
MIN_FREE_BYTES = 1 << 20
SQLITE_HEADER = b"SQLite format 3\x00"


def read_instance_id(db: Database, ring: KeyRing) -> str | None:
    with db.read() as session:
        ciphertext = session.scalar(
            select(AppSecret.ciphertext).where(AppSecret.name == INSTANCE_SECRET)
        )
    return None if ciphertext is None else ring.decrypt(ciphertext).decode()


def instance_id(db: Database, ring: KeyRing, clock: Clock, *, create: bool) -> str | None:
    """The database's instance id; with ``create`` (``lemur init``), written if missing.
    A database initialised before instance ids existed has none until the next init."""
    found = read_instance_id(db, ring)
    if found is not None or not create:
        return found
    with db.write() as session:
        if session.get(AppSecret, INSTANCE_SECRET) is None:
            value = secrets.token_hex(16)
            session.add(
                AppSecret(
                    name=INSTANCE_SECRET,
                    ciphertext=ring.encrypt(value.encode()),
                    created_at=clock.now(),
                )
            )
            session.commit()
    return read_instance_id(db, ring)


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int

    @classmethod
    def of(cls, path: str) -> FileIdentity:
        st = os.stat(path)
        return cls(st.st_dev, st.st_ino)


class SQLiteFileGuard:
    """Refuses connections to a SQLite file other than the one opened at start."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.identity = FileIdentity.of(path)
        # Kept open for the life of the guard and read with pread: SQLite locks the file
        # with POSIX locks, which the kernel drops when the process closes *any* descriptor
        # of the file, so opening and closing it per check would break SQLite's locking.
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    @classmethod
    def watch(cls, db: Database) -> SQLiteFileGuard | None:
        """Install a guard on both engines of a SQLite file database; None otherwise."""
        if not is_sqlite(db.url):
            return None
        path = make_url(db.url).database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        guard = cls(path)
        guard._install(db.read_engine, writes=False)
        if db.write_engine is not db.read_engine:
            guard._install(db.write_engine, writes=True)
        return guard

    def problem(self) -> str | None:
        """What is wrong with the file at the path, or None if it is still the one opened
        at start. Worded for /ready and the logs: no path."""
        try:
            now = FileIdentity.of(self.path)
        except FileNotFoundError:
            return "the database file was removed after the server started; restore it and restart the server"
        except OSError as exc:
            return f"the database file cannot be examined ({exc.strerror}); check the disk and restart the server"
        if now != self.identity:
            return "the database file was replaced after the server started; restart the server to use the new file"
        return None

    def content_problem(self) -> str | None:
        """Whether the file still starts as a SQLite database. Overwriting the file in place
        keeps its identity, and an open connection may answer from its page cache for a
        while; the header shows it at once."""
        try:
            header = os.pread(self._fd, len(SQLITE_HEADER), 0)
        except OSError as exc:
            return f"the database file cannot be read ({exc.strerror}); check the disk"
        if header != SQLITE_HEADER:
            return "the database file is no longer a SQLite database (overwritten?); restore it from a backup and restart the server"
        return None

    def close(self) -> None:
        """After the engines are disposed: closing any descriptor of the file releases the
        process's POSIX locks on it, SQLite's included."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def free_bytes(self) -> int:
        st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        return st.f_bavail * st.f_frsize

    def _install(self, engine: Engine, *, writes: bool) -> None:
        event.listen(engine, "do_connect", self._on_connect)
        event.listen(engine, "checkout", self._on_write_checkout if writes else self._on_checkout)

    def _on_connect(self, _dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        # Before SQLite opens (and would create) the file: a new connection to a removed or
        # replaced file is refused. sqlite3's error type, so SQLAlchemy wraps it as usual.
        problem = self.problem() or self.content_problem()
        if problem is not None:
            raise sqlite3.OperationalError(problem)

    def _on_checkout(self, _dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # One stat() per checkout. Every pooled connection holds the old file open; drop
        # them all, and the reconnect above refuses.
        problem = self.problem()
        if problem is not None:
            raise InvalidatePoolError(problem)

    def _on_write_checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        # A write to a file overwritten in place would land in the WAL and be acknowledged;
        # the header (16 bytes, one read) shows the overwrite before the write starts.
        self._on_checkout(dbapi_conn, record, proxy)
        problem = self.content_problem()
        if problem is not None:
            raise InvalidatePoolError(problem)
