"""Database plumbing: the declarative base and UTC column type (base), engines for SQLite
and PostgreSQL (engines), the SQLite write lock (sqlite_lock), the database object with its
session factories and the PostgreSQL pipeline (database), and the unit of work services
write through (unit_of_work)."""

from lemur.db.base import NAMING_CONVENTION, Base, UTCDateTime
from lemur.db.database import Database, pipelined
from lemur.db.engines import is_sqlite, make_engine
from lemur.db.sqlite_lock import BUSY_TIMEOUT_S, SQLiteWriteLock
from lemur.db.unit_of_work import UnitOfWork, WriteTransaction

__all__ = [
    "BUSY_TIMEOUT_S",
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "SQLiteWriteLock",
    "UTCDateTime",
    "UnitOfWork",
    "WriteTransaction",
    "is_sqlite",
    "make_engine",
    "pipelined",
]
