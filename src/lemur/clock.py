"""Time is injected: services take a Clock; tests pass a FrozenClock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta


class OffsetFileClock:
    """Tests only: real time plus an offset in seconds read from a file, so that a test can
    move the clock of a server it started as a separate process (``LEMUR_TEST_CLOCK_FILE``;
    a start without ``LEMUR_ALLOW_TEST_CLOCK=1`` refuses it). The file is re-read when it
    changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._offset = dt.timedelta(0)

    def _read(self) -> dt.timedelta:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return dt.timedelta(0)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            text = self._path.read_text().strip()
            self._offset = dt.timedelta(seconds=float(text or 0))
            self._stamp = stamp
        return self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self._read()
