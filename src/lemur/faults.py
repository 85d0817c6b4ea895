"""Database failures a client or operator should see as such, not as internal errors.

One mapping, used by the API's error handler and by the command line: an exception raised
while talking to the database becomes :class:`DatabaseUnavailable` (503, retry later: the
server is stopped or restarting, the connection was cut, the file was removed, replaced or
is corrupt) or :class:`StorageFull` (507: SQLite could not grow its file or journal).
Anything else (a constraint violated, a programming error) is not a fault of the database
and is left alone (``None``).

The messages say what happened in words that are safe to show: never a URL, a host, a
password or a statement.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa

from lemur.errors import DatabaseUnavailable, LemurError, StorageFull

# SQLite primary result codes (https://www.sqlite.org/rescode.html); extended codes carry
# the primary one in their low byte.
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY_DBMOVED = 1032  # the file was removed or renamed under an open connection
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

UNAVAILABLE = "the database is unavailable; nothing was changed, try again shortly"
CORRUPT = "the database file is damaged or is not a Lemur database; nothing was changed"
FULL = "the database's storage is full; nothing was changed until space is freed"

# SQLSTATE classes (PostgreSQL appendix A): 08 connection exception, 57 operator
# intervention (shutdown, terminated backend), 53 insufficient resources.
_PG_UNAVAILABLE_CLASSES = ("08", "57", "53")
_PG_DISK_FULL = "53100"


def database_fault(exc: BaseException) -> LemurError | None:
    """The typed error for a database failure, or None if ``exc`` is not one."""
    if isinstance(exc, DatabaseUnavailable | StorageFull):
        return exc
    if isinstance(exc, sa.TimeoutError):  # no pooled connection came free in time
        return DatabaseUnavailable(UNAVAILABLE)
    if isinstance(exc, sa.DBAPIError):
        if isinstance(exc.orig, sqlite3.Error):
            return _sqlite_fault(exc.orig)  # SQLite's result code says it all
        fault = _driver_fault(exc.orig)
        if fault is None and (exc.connection_invalidated or _is_unavailable_type(exc)):
            fault = DatabaseUnavailable(UNAVAILABLE)
        return fault
    if isinstance(exc, sa.DisconnectionError):
        return DatabaseUnavailable(UNAVAILABLE)
    return _driver_fault(exc)


def _is_unavailable_type(exc: sa.DBAPIError) -> bool:
    # OperationalError and InterfaceError are the DB-API's "not the statement's fault"; a
    # bare DatabaseError (no subclass) is what SQLite gives for a file that is no database.
    return isinstance(exc, sa.OperationalError | sa.InterfaceError) or type(exc) is sa.DatabaseError


def _driver_fault(orig: BaseException | None) -> LemurError | None:
    if isinstance(orig, sqlite3.Error):
        return _sqlite_fault(orig)
    if isinstance(orig, psycopg.Error):
        state = orig.sqlstate or ""
        if state == _PG_DISK_FULL:
            return StorageFull(FULL)
        if state[:2] in _PG_UNAVAILABLE_CLASSES or isinstance(
            orig, psycopg.OperationalError | psycopg.InterfaceError
        ):
            return DatabaseUnavailable(UNAVAILABLE)
    return None


def _sqlite_fault(orig: sqlite3.Error) -> LemurError | None:
    code = getattr(orig, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(orig).lower()
    if primary == SQLITE_FULL or "database or disk is full" in text:
        return StorageFull(FULL)
    if (
        primary in (SQLITE_CORRUPT, SQLITE_NOTADB)
        or "not a database" in text
        or "malformed" in text
    ):
        return DatabaseUnavailable(CORRUPT, code="database_unavailable")
    if primary in (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN) or (
        code == SQLITE_READONLY_DBMOVED
    ):
        return DatabaseUnavailable(UNAVAILABLE)
    if code is None and isinstance(orig, sqlite3.OperationalError):
        # Raised without a result code by Lemur's own file guard and write lock.
        return DatabaseUnavailable(UNAVAILABLE)
    return None


def describe(exc: BaseException) -> str:
    """The driver's own first line about ``exc``, for an operator at the console (the CLI),
    never for an API client."""
    orig = exc.orig if isinstance(exc, sa.DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
