"""lemur.statistics.cache: one count per scope at a time, kept figures while fresh, the
stale ones answered while a background count runs, and a failed background count that
leaves the kept figures in place."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from lemur.clock import FrozenClock
from lemur.db import Database
from lemur.statistics.cache import StatisticsCache
from tests.conftest import START


@dataclass(frozen=True)
class Counted:
    computed_at: dt.datetime
    value: int


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.connect(f"sqlite:///{tmp_path / 'cache.db'}")
    yield database
    database.dispose()


class Counter:
    """A count that takes ``delay`` seconds and answers how many counts were made."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls = 0
        self.delay = delay
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, session: Session, now: dt.datetime) -> Counted:
        assert isinstance(session, Session)
        with self._lock:
            self.calls += 1
            calls = self.calls
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the database went away")
        return Counted(now, calls)


def test_requests_at_once_wait_for_one_count(db: Database) -> None:
    clock = FrozenClock(START)
    cache = StatisticsCache[str, Counted](db, clock, max_age=dt.timedelta(seconds=30))
    count = Counter(delay=0.3)
    answers: list[Counted] = []

    def ask() -> None:
        with db.read() as session:
            answers.append(cache.get("all", count, session))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert count.calls == 1
    assert {a.value for a in answers} == {1}
    # Another scope is counted on its own.
    with db.read() as session:
        assert cache.get("team 3", count, session).value == 2


def test_stale_figures_are_answered_while_a_background_count_runs(db: Database) -> None:
    clock = FrozenClock(START)
    cache = StatisticsCache[str, Counted](db, clock, max_age=dt.timedelta(seconds=30))
    count = Counter()
    with db.read() as session:
        assert cache.get("all", count, session).value == 1
        clock.advance(dt.timedelta(seconds=45))
        slow = Counter(delay=0.3)
        assert cache.get("all", slow, session).value == 1  # at once: the kept figures
        assert cache.get("all", slow, session).value == 1  # one background count only
        cache.settle()
        assert slow.calls == 1
        renewed = cache.get("all", slow, session)
    assert renewed.value == 1  # the background count's answer (its first call)
    assert renewed.computed_at == START + dt.timedelta(seconds=45)


def test_a_failed_background_count_keeps_the_figures(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FrozenClock(START)
    cache = StatisticsCache[str, Counted](db, clock, max_age=dt.timedelta(seconds=30))
    with db.read() as session:
        kept = cache.get("all", Counter(), session)
        clock.advance(dt.timedelta(seconds=31))
        assert cache.get("all", Counter(fail=True), session) == kept
        cache.settle()
        assert "counting the dashboard's figures in the background failed" in caplog.text
        assert cache.get("all", Counter(), session) == kept  # still within the stale time
        # That read started a background count of its own (its figures are stale): let it
        # store them, stamped now, before the clock moves; left running, it raced the
        # moved clock and could store figures that look fresh or stale at random.
        cache.settle()
        # Past the stale time of those figures (30 s + 10 x 30 s), the view counts, and an
        # error there is the request's.
        clock.advance(dt.timedelta(seconds=331))
        with pytest.raises(RuntimeError):
            cache.get("all", Counter(fail=True), session)


def test_max_age_zero_counts_every_time(db: Database) -> None:
    cache = StatisticsCache[str, Counted](db, FrozenClock(START), max_age=dt.timedelta(0))
    count = Counter()
    with db.read() as session:
        assert [cache.get("all", count, session).value for _ in range(3)] == [1, 2, 3]
