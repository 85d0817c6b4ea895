"""The dashboard's figures per scope, kept in the process for a short time.

Counting over a million certificates reads a few indexes end to end: more than a page
should wait for at every view (docs/decisions/0017-dashboard-statistics.md has the
figures). The figures of a scope (every certificate, or one set of teams) are

- younger than ``max_age`` (``LEMUR_STATISTICS_MAX_AGE_SECONDS``, 30 by default): answered
  as they are;
- older, but by less than ``stale_for`` more (10 x max_age): answered as they are, and
  counted anew in a background thread for the next view (one count per scope at a time),
  so that a user who comes back after a minute does not wait for the count either;
- older still, or never counted: counted now, the caller waiting; others asking for the
  same scope meanwhile wait for that count instead of starting their own.

Every answer carries the time it was counted (``computed_at``). Two callers of the same
scope share one entry: the figures depend on the scope only. A ``max_age`` of zero counts
on every request.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from lemur.clock import Clock
from lemur.db import Database

log = logging.getLogger("lemur.statistics")
STALE_FACTOR = 10


class Counted(Protocol):
    @property
    def computed_at(self) -> dt.datetime: ...


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Counted)


class StatisticsCache(Generic[K, V]):
    """Figures (``V``) per scope (``K``). Thread-safe; at most ``capacity`` scopes (the
    least recently used goes first)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_age: dt.timedelta,
        stale_for: dt.timedelta | None = None,
        capacity: int = 256,
    ) -> None:
        self.max_age = max_age
        self.stale_for = max_age * STALE_FACTOR if stale_for is None else stale_for
        self._db = db
        self._clock = clock
        self._capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._gates: dict[K, threading.Lock] = {}
        self._refreshing: dict[K, threading.Thread] = {}
        self._lock = threading.Lock()

    def _age(self, entry: V, now: dt.datetime) -> dt.timedelta | None:
        """None for an entry from the future (a test's clock went back): never reused."""
        age = now - entry.computed_at
        return age if age >= dt.timedelta(0) else None

    def get(self, key: K, compute: Callable[[Session, dt.datetime], V], session: Session) -> V:
        """The figures of ``key``: kept ones, or ``compute(session, now)``'s."""
        if self.max_age <= dt.timedelta(0):
            return compute(session, self._clock.now())
        with self._lock:
            entry = self._entries.get(key)
            age = None if entry is None else self._age(entry, self._clock.now())
            if entry is not None and age is not None and age < self.max_age + self.stale_for:
                self._entries.move_to_end(key)
                if age >= self.max_age and key not in self._refreshing:
                    self._start_refresh(key, compute)
                return entry
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                entry = self._entries.get(key)
                age = None if entry is None else self._age(entry, self._clock.now())
            if entry is not None and age is not None and age < self.max_age:
                return entry  # counted by whoever held the gate before
            computed = compute(session, self._clock.now())
            self._store(key, computed)
            return computed

    def _store(self, key: K, computed: V) -> None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is None or kept.computed_at <= computed.computed_at:
                self._entries[key] = computed
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                evicted, _ = self._entries.popitem(last=False)
                self._gates.pop(evicted, None)

    def _start_refresh(self, key: K, compute: Callable[[Session, dt.datetime], V]) -> None:
        """Called with the lock held."""
        thread = threading.Thread(
            target=self._refresh, args=(key, compute), name="lemur-statistics", daemon=True
        )
        self._refreshing[key] = thread
        thread.start()

    def _refresh(self, key: K, compute: Callable[[Session, dt.datetime], V]) -> None:
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        try:
            with gate, self._db.read() as session:
                self._store(key, compute(session, self._clock.now()))
        except Exception:
            # The figures shown stay the older ones; the next view past their stale time
            # counts them itself and reports what goes wrong.
            log.warning("counting the dashboard's figures in the background failed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing.pop(key, None)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for the background counts running now (tests, benchmarks)."""
        with self._lock:
            running = list(self._refreshing.values())
        for thread in running:
            thread.join(timeout)
