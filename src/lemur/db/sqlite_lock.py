"""A lock that serialises SQLite writers across threads and processes (docs/decisions/0004)."""

from __future__ import annotations

import fcntl
import os
import threading

from sqlalchemy.exc import OperationalError

BUSY_TIMEOUT_S = 30


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
