"""The runner-agnostic core: claim due jobs, run them, record what happened.

Both runners use it: the embedded runner claims batches (:meth:`JobEngine.run_due`), a
Celery worker claims the jobs a message names (:meth:`JobEngine.run_ids`). Safety
between runners comes from the database, never from the broker:

- a claim is one conditional UPDATE (``pending`` and due -> ``running``, ``attempts + 1``,
  a lease); on PostgreSQL the candidates are picked ``FOR UPDATE SKIP LOCKED``, so two
  runners never claim the same row, and on SQLite the write lock serialises claims;
- an outcome is recorded only if the row is still this runner's claim (``running`` with
  the same ``attempts``), so a runner that lost its lease cannot overwrite the new one's;
- :meth:`JobEngine.reap` returns running jobs whose lease ran out (their worker died) to
  ``pending``; the job runs again, and being idempotent, its effect happens once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, bindparam, select, text, update
from sqlalchemy.orm import Session

from lemur.audit.service import Actor, AuditLog
from lemur.db import pipelined
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.registry import JobContext, JobKind, JobKinds, LeaseLost, PermanentJobError

if TYPE_CHECKING:
    from lemur.container import Container

log = logging.getLogger("lemur.jobs")

# The audit action of a job that gave up; notifications turn it into "job failed".
JOB_FAILED_ACTION = "job.fail"
MAX_ERROR = 2000
# Outcomes of fast jobs are written together, at most this long after the first finished.
FLUSH_AFTER_S = 0.2


def _audit_failure(
    session: Session, container: Container, job_id: int, kind: str, error: str | None
) -> None:
    """A job that gave up is an audit event (notifications turn it into "job failed")."""
    AuditLog(session, container.clock).record(
        Actor(f"job:{kind}", None),
        JOB_FAILED_ACTION,
        target_type="job",
        target_id=job_id,
        outcome="failure",
        details={"kind": kind, "error": error},
    )


def relaxed_commit(session: Session) -> None:
    """On PostgreSQL, commit this transaction without waiting for its WAL to reach the disk
    (``synchronous_commit = off``): for claims and successful outcomes only. Such a commit
    can be lost only if the database server itself crashes within a fraction of a second,
    and then the job is pending or running again and runs again, which every handler must
    allow anyway; a handler's own transaction, and any later ordinary commit, are durable
    and make it durable too (the WAL is written in order). Without this, each job pays two
    disk flushes (several milliseconds each on a busy disk) when a worker runs jobs one by
    one."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    args: dict[str, Any]
    attempt: int
    max_attempts: int


@dataclass(frozen=True)
class Outcome:
    job: Claimed
    state: JobState  # SUCCEEDED, FAILED, or PENDING (to be retried at run_after)
    error: str | None = None
    run_after: dt.datetime | None = None
    started: float = 0.0
    seconds: float = 0.0
    recorded: bool = False  # the handler completed the job in its own transaction


def backoff(kind: JobKind, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before retry number ``attempt`` (1 = the first retry): exponential, capped,
    with full-range jitter between 0.5x and 1.5x so that failed jobs do not retry in step."""
    base: float = min(kind.backoff_cap, kind.backoff_base * 2.0 ** max(attempt - 1, 0))
    jitter: float = (rng or random).uniform(0.5, 1.5)
    return base * jitter


def describe(exc: BaseException) -> str:
    """The error recorded for operators: the exception's type and message (Lemur's and its
    plugins' errors never carry secrets), and the innermost frame, without locals."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    text = f"{type(exc).__name__}: {exc}{where}"
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class JobEngine:
    def __init__(
        self,
        container: Container,
        kinds: JobKinds,
        *,
        worker: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.container = container
        self.kinds = kinds
        self.worker = (worker or worker_name())[:100]
        self._rng = rng or random.Random()

    @property
    def db(self) -> Any:
        return self.container.db

    def _now(self) -> dt.datetime:
        return self.container.clock.now()

    def _lease(self, now: dt.datetime) -> dt.datetime:
        seconds = max((k.lease_seconds for k in self.kinds.values()), default=600.0)
        return now + dt.timedelta(seconds=seconds)

    # -- claiming ---------------------------------------------------------------------

    def claim(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due jobs of the kinds this engine knows, oldest due first."""
        now = self._now()
        candidates = (
            select(JOBS.c.id)
            .where(
                JOBS.c.state == JobState.PENDING.value,
                JOBS.c.run_after <= now,
                JOBS.c.kind.in_(list(self.kinds)),
            )
            .order_by(JOBS.c.run_after, JOBS.c.id)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        return self._claim(now, JOBS.c.id.in_(candidates.scalar_subquery()))

    def claim_ids(self, job_ids: Sequence[int]) -> list[Claimed]:
        """Claim those of ``job_ids`` that are pending and due (a Celery message names
        them); the others are taken by another runner, done, or not due yet."""
        if not job_ids:
            return []
        now = self._now()
        return self._claim(
            now,
            JOBS.c.id.in_(list(job_ids)),
            JOBS.c.state == JobState.PENDING.value,
            JOBS.c.run_after <= now,
        )

    def _claim(self, now: dt.datetime, *which: ColumnElement[bool]) -> list[Claimed]:
        """The claim itself: the rows ``which`` selects become this runner's, with a lease,
        one attempt more, in one UPDATE ... RETURNING."""
        with self.db.write() as session:
            relaxed_commit(session)
            rows = session.execute(
                update(JOBS)
                .where(*which)
                .values(
                    state=JobState.RUNNING.value,
                    attempts=JOBS.c.attempts + 1,
                    started_at=now,
                    lease_until=self._lease(now),
                    worker=self.worker,
                )
                .returning(
                    JOBS.c.id, JOBS.c.kind, JOBS.c.args, JOBS.c.attempts, JOBS.c.max_attempts
                )
            ).all()
            session.commit()
        claimed = [
            Claimed(r.id, r.kind, json.loads(r.args), r.attempts, r.max_attempts) for r in rows
        ]
        claimed.sort(key=lambda c: c.id)
        return claimed

    def reap(self) -> int:
        """Return running jobs whose lease has run out to ``pending`` (or ``failed`` when
        that was their last attempt). Their worker died or hung; the job runs again."""
        now = self._now()
        jobs = JOBS
        lost = "the worker running this job stopped before finishing it (lease expired)"
        expired = (jobs.c.state == JobState.RUNNING.value, jobs.c.lease_until < now)
        with self.db.write() as session:
            given_up = session.execute(
                update(jobs)
                .where(*expired, jobs.c.attempts >= jobs.c.max_attempts)
                .values(
                    state=JobState.FAILED.value,
                    finished_at=now,
                    lease_until=None,
                    worker=None,
                    last_error=lost,
                )
                .returning(jobs.c.id, jobs.c.kind)
            ).all()
            for job_id, kind in given_up:
                _audit_failure(session, self.container, job_id, kind, lost)
            result = session.execute(
                update(jobs)
                .where(*expired)
                .values(
                    state=JobState.PENDING.value,
                    run_after=now,
                    lease_until=None,
                    worker=None,
                    dispatched_at=None,
                    last_error=lost,
                )
            )
            session.commit()
        count: int = result.rowcount + len(given_up)
        if count:
            log.warning("reaped %d job(s) whose worker stopped", count)
        return count

    # -- running ----------------------------------------------------------------------

    def execute(self, job: Claimed) -> Outcome:
        """Run one claimed job's handler and say what happened (nothing is written here
        except what the handler writes itself)."""
        started = time.monotonic()
        kind = self.kinds.get(job.kind)
        if kind is None:
            return Outcome(job, JobState.FAILED, f"unknown job kind {job.kind!r}", started=started)
        ctx = JobContext(
            container=self.container,
            job_id=job.id,
            kind=job.kind,
            args=job.args,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
        )
        try:
            kind.handler(ctx)
        except LeaseLost as exc:
            log.warning("job %d (%s): %s", job.id, job.kind, exc)
            return Outcome(job, JobState.RUNNING, str(exc), started=started, recorded=True)
        except PermanentJobError as exc:
            return self._failed(job, describe(exc), started)
        except Exception as exc:
            error = describe(exc)
            log.warning("job %d (%s) attempt %d failed: %s", job.id, job.kind, job.attempt, error)
            if job.attempt >= job.max_attempts:
                return self._failed(job, error, started)
            delay = backoff(kind, job.attempt, self._rng)
            return Outcome(
                job,
                JobState.PENDING,
                error,
                run_after=self._now() + dt.timedelta(seconds=delay),
                started=started,
                seconds=time.monotonic() - started,
            )
        return Outcome(
            job,
            JobState.SUCCEEDED,
            started=started,
            seconds=time.monotonic() - started,
            recorded=ctx.completed,
        )

    def _failed(self, job: Claimed, error: str, started: float) -> Outcome:
        log.error("job %d (%s) failed permanently: %s", job.id, job.kind, error)
        return Outcome(
            job, JobState.FAILED, error, started=started, seconds=time.monotonic() - started
        )

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write the outcomes of claimed jobs in one transaction. An outcome is written only
        if its row is still this claim; a job that gave up is an audit event (``job.fail``),
        which notifications turn into a "job failed" notice."""
        pending = [o for o in outcomes if not o.recorded]
        if not pending:
            return
        now = self._now()
        jobs = JOBS
        statement = (
            update(jobs)
            .where(
                jobs.c.id == bindparam("job_id"),
                jobs.c.state == JobState.RUNNING.value,
                jobs.c.attempts == bindparam("attempt"),
            )
            .values(
                state=bindparam("new_state"),
                run_after=bindparam("new_run_after"),
                finished_at=bindparam("new_finished_at"),
                last_error=bindparam("error"),
                lease_until=None,
                dispatched_at=None,
            )
        )
        params = []
        for o in pending:
            finished = o.state in (JobState.SUCCEEDED, JobState.FAILED)
            params.append(
                {
                    "job_id": o.job.id,
                    "attempt": o.job.attempt,
                    "new_state": o.state.value,
                    "new_run_after": o.run_after or now,
                    "new_finished_at": now if finished else None,
                    "error": o.error,
                }
            )
        if all(o.state is not JobState.FAILED for o in pending):
            # Nothing to read back: on PostgreSQL the whole transaction goes to the server
            # in one round trip, and its commit does not wait for the disk.
            with self.db.write_held() as session, pipelined(session):
                relaxed_commit(session)
                session.execute(statement, params)
                session.commit()
            return
        # A failure writes an audit event: an ordinary, durable transaction.
        with self.db.write() as session:
            for o, p in zip(pending, params, strict=True):
                if o.state is not JobState.FAILED:
                    continue
                if session.execute(statement, p).rowcount == 1:
                    _audit_failure(session, self.container, o.job.id, o.job.kind, o.error)
            rest = [
                p for o, p in zip(pending, params, strict=True) if o.state is not JobState.FAILED
            ]
            if rest:
                session.execute(statement, rest)
            session.commit()

    def release(self, jobs: Sequence[Claimed]) -> None:
        """Hand claimed jobs that did not start back to ``pending``, as if never claimed."""
        if not jobs:
            return
        table = JOBS
        with self.db.write() as session:
            session.execute(
                update(table)
                .where(
                    table.c.id == bindparam("job_id"),
                    table.c.state == JobState.RUNNING.value,
                    table.c.attempts == bindparam("attempt"),
                )
                .values(
                    state=JobState.PENDING.value,
                    attempts=table.c.attempts - 1,
                    started_at=None,
                    lease_until=None,
                    worker=None,
                    dispatched_at=None,
                ),
                [{"job_id": j.id, "attempt": j.attempt} for j in jobs],
            )
            session.commit()

    def run_due(self, limit: int = 100) -> int:
        """Claim up to ``limit`` due jobs and run them (the embedded runner). Returns how
        many ran."""
        return self.run_claimed(self.claim(limit))

    def run_ids(self, job_ids: Sequence[int]) -> list[int]:
        """Claim and run those of ``job_ids`` that are pending and due (the Celery task);
        returns the ids that ran."""
        claimed = self.claim_ids(job_ids)
        ran = self.run_claimed(claimed)
        return [job.id for job in claimed[:ran]]

    def run_claimed(self, claimed: Sequence[Claimed]) -> int:
        """Run claimed jobs one after another; outcomes of fast jobs are recorded together.
        Jobs not started within half the lease are handed back (their lease would run out
        before they finish). Returns how many ran."""
        if not claimed:
            return 0
        deadline = time.monotonic() + min(k.lease_seconds for k in self.kinds.values()) / 2
        unrecorded: list[Outcome] = []
        first_done = 0.0
        ran = 0
        try:
            for index, job in enumerate(claimed):
                if time.monotonic() > deadline:
                    self.release(claimed[index:])
                    break
                ran += 1
                outcome = self.execute(job)
                if not outcome.recorded:
                    unrecorded.append(outcome)
                    first_done = first_done or time.monotonic()
                if unrecorded and time.monotonic() - first_done >= FLUSH_AFTER_S:
                    self.record(unrecorded)
                    unrecorded = []
        finally:
            self.record(unrecorded)
        return ran
