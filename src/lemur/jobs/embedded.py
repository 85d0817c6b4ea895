"""The embedded runner: jobs and the schedule in a thread of ``lemur serve``.

On a fresh machine nothing else is started: the server process fires schedule ticks,
reaps jobs whose worker died, and runs due jobs. It sleeps until the next poll, or until
a transaction in this process enqueues a job (:func:`lemur.jobs.outbox.add_waker`).
Several server processes may each run one; the database keeps them from running a job
twice (:mod:`lemur.jobs.engine`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lemur.faults import database_fault, describe
from lemur.jobs import outbox
from lemur.jobs.engine import JobEngine
from lemur.jobs.registry import JobKinds
from lemur.jobs.schedule import ScheduleEntry, fire_due

if TYPE_CHECKING:
    from lemur.container import Container

log = logging.getLogger("lemur.jobs")


class RoundFailures:
    """How a runner's loop reports a failed round. The database being down is an outage,
    not a bug: one line when it starts (the driver's own words, no traceback) and one when
    it ends, however many rounds fail in between. Anything else is logged with its
    traceback, since it is a bug."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.outage = False

    def failed(self, exc: Exception, retry_in: float) -> None:
        if database_fault(exc) is None:
            log.exception("%s: round failed; retrying in %.1fs", self.who, retry_in)
        elif not self.outage:
            self.outage = True
            log.error(
                "%s: the database is unavailable (%s); jobs wait, retrying every %.1fs",
                self.who,
                describe(exc),
                retry_in,
            )

    def succeeded(self) -> None:
        if self.outage:
            self.outage = False
            log.warning("%s: the database is back; jobs run again", self.who)


class Ticker:
    """Fires the schedule's due ticks, at most once per ``interval`` seconds."""

    def __init__(
        self, container: Container, entries: Sequence[ScheduleEntry], interval: float = 5.0
    ) -> None:
        self.container = container
        self.entries = tuple(entries)
        self.interval = interval
        self._last = 0.0

    def maybe_fire(self) -> list[tuple[str, int]]:
        if time.monotonic() - self._last < self.interval:
            return []
        self._last = time.monotonic()
        return self.fire()

    def fire(self) -> list[tuple[str, int]]:
        with self.container.db.write() as session:
            fired = fire_due(session, self.entries, self.container.clock.now())
            session.commit()
        for name, job_id in fired:
            log.info("schedule: %s fired (job %d)", name, job_id)
        return fired


class EmbeddedRunner:
    def __init__(
        self,
        container: Container,
        kinds: JobKinds,
        schedule: Sequence[ScheduleEntry],
        *,
        poll_interval: float = 1.0,
        batch: int = 100,
        reap_interval: float = 15.0,
    ) -> None:
        self.engine = JobEngine(container, kinds)
        self.ticker = Ticker(container, schedule)
        self.poll_interval = poll_interval
        self.batch = batch
        self.reap_interval = reap_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reap = 0.0
        self._failures = RoundFailures("job runner")

    def start(self) -> None:
        outbox.add_waker(self._wake.set)
        self._thread = threading.Thread(target=self._loop, name="lemur-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        outbox.remove_waker(self._wake.set)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def step(self) -> int:
        """One round: fire due ticks, reap, run a batch. Returns how many jobs ran."""
        self.ticker.maybe_fire()
        if time.monotonic() - self._last_reap >= self.reap_interval:
            self._last_reap = time.monotonic()
            self.engine.reap()
        return self.engine.run_due(self.batch)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                ran = self.step()
            except Exception as exc:
                # The database may be down: log, wait, try again; never kill the server.
                self._failures.failed(exc, self.poll_interval)
                ran = 0
            else:
                self._failures.succeeded()
            if ran == 0:
                self._wake.wait(self.poll_interval)
