"""What operators do with jobs: list and read them, retry a failed or cancelled one, cancel
a pending one, ping the runners with a ``noop`` job, and see the kinds and the schedule.

Reads are one SELECT each (a page of the list included, whatever the filters); changes are
one conditional UPDATE and their audit event (``job.retry``, ``job.cancel``) in one
transaction, so a job that changed state between the read and the write is never
overwritten: the UPDATE finds nothing and the caller gets a 409 naming the state it found.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from lemur.audit.service import AuditLog
from lemur.authz import Action, Principal, authorize
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.errors import Conflict, InvalidInput, NotFound
from lemur.ids import MAX_ID
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.outbox import enqueue, wake_on_commit
from lemur.jobs.registry import JobKind
from lemur.jobs.schedule import DEFAULT_SCHEDULE, ScheduleEntry

RETRYABLE = (JobState.FAILED, JobState.CANCELLED)
CANCELLABLE = (JobState.PENDING,)
PING_KIND = "noop"

_COLUMNS = (
    "id",
    "kind",
    "args",
    "unique_key",
    "state",
    "attempts",
    "max_attempts",
    "run_after",
    "created_at",
    "started_at",
    "finished_at",
    "lease_until",
    "worker",
    "last_error",
)
_SELECT = select(*(JOBS.c[name] for name in _COLUMNS))


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as operators see it (every column but the Celery relay's bookkeeping)."""

    id: int
    kind: str
    args: dict[str, Any]
    unique_key: str | None
    state: JobState
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    lease_until: dt.datetime | None
    worker: str | None
    last_error: str | None

    @classmethod
    def of(cls, row: Sequence[Any]) -> JobRecord:
        values = dict(zip(_COLUMNS, row, strict=True))
        try:
            args = json.loads(values["args"] or "{}")
        except ValueError:
            args = {}
        values["args"] = args if isinstance(args, dict) else {}
        values["state"] = JobState(values["state"])
        return cls(**values)


@dataclass(frozen=True)
class JobFilter:
    state: JobState | None = None
    kind: str | None = None


@dataclass(frozen=True)
class JobPage:
    items: list[JobRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class ScheduledRun:
    """A schedule entry as configured: ``spec`` is "off" when the configuration turned it
    off; ``installed`` says whether this installation has its job kind (an entry runs only
    when it has)."""

    name: str
    kind: str
    spec: str
    description: str
    installed: bool
    next_tick: dt.datetime | None


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or not 0 < int(cursor) <= MAX_ID:
        raise InvalidInput(
            "cursor is not one this API returned", code="invalid_cursor", field="cursor"
        )
    return int(cursor)


def job_not_found(job_id: int) -> NotFound:
    return NotFound(f"no job with id {job_id}", code="job_not_found", field="job_id")


def schedule_overview(
    entries: Iterable[ScheduleEntry],
    kinds: Mapping[str, JobKind],
    now: dt.datetime,
    *,
    defaults: Iterable[ScheduleEntry] = DEFAULT_SCHEDULE,
) -> list[ScheduledRun]:
    """Every default entry with its configured spec and next tick (entries turned off
    included, as "off"), in the default order."""
    configured = {e.name: e for e in entries}
    out = []
    for default in defaults:
        entry = configured.get(default.name)
        installed = default.kind in kinds
        if entry is None:
            out.append(
                ScheduledRun(
                    default.name, default.kind, "off", default.description, installed, None
                )
            )
            continue
        out.append(
            ScheduledRun(
                entry.name,
                entry.kind,
                entry.spec,
                entry.description,
                installed,
                entry.next_tick(now) if installed else None,
            )
        )
    return out


class JobService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        clock: Clock,
        actor: Principal,
        kinds: Mapping[str, JobKind],
        schedule: Iterable[ScheduleEntry],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._actor = actor
        self._kinds = kinds
        self._schedule = tuple(schedule)

    # reads ------------------------------------------------------------------------------

    def _one(self, session: Session, statement: Select[Any]) -> JobRecord | None:
        row = session.execute(statement).one_or_none()
        return None if row is None else JobRecord.of(row)

    def get(self, job_id: int) -> JobRecord:
        found = (
            self._one(self._uow.read, _SELECT.where(JOBS.c.id == job_id))
            if 0 < job_id <= MAX_ID
            else None
        )
        if found is None:
            raise job_not_found(job_id)
        return found

    def page(self, flt: JobFilter, *, limit: int, cursor: str | None) -> JobPage:
        """Newest first (by id); one SELECT per page whatever the filters. The indexes
        (kind, state, id) and (state, id) of migration 0006 serve the filtered lists."""
        authorize(self._actor, Action.JOB_READ)
        statement = _SELECT
        if flt.state is not None:
            statement = statement.where(JOBS.c.state == flt.state.value)
        if flt.kind is not None:
            statement = statement.where(JOBS.c.kind == flt.kind)
        after = parse_cursor(cursor)
        if after is not None:
            statement = statement.where(JOBS.c.id < after)
        rows = self._uow.read.execute(statement.order_by(JOBS.c.id.desc()).limit(limit + 1)).all()
        items = [JobRecord.of(r) for r in rows[:limit]]
        more = len(rows) > limit
        return JobPage(items, str(items[-1].id) if more and items else None)

    def kinds(self) -> list[JobKind]:
        return sorted(self._kinds.values(), key=lambda k: k.name)

    def schedule(self) -> list[ScheduledRun]:
        return schedule_overview(self._schedule, self._kinds, self._clock.now())

    # changes ----------------------------------------------------------------------------

    def _transition(
        self,
        job_id: int,
        *,
        allowed: tuple[JobState, ...],
        values: Mapping[str, Any],
        action: str,
        refusal: str,
        verb: str,
    ) -> JobRecord:
        authorize(self._actor, Action.JOB_MANAGE)
        if not 0 < job_id <= MAX_ID:
            raise job_not_found(job_id)
        with self._uow.write() as tx:
            session = tx.session
            row = session.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id, JOBS.c.state.in_([s.value for s in allowed]))
                .values(**values)
                .returning(*(JOBS.c[name] for name in _COLUMNS))
            ).one_or_none()
            if row is None:
                current = self._one(session, _SELECT.where(JOBS.c.id == job_id))
                if current is None:
                    raise job_not_found(job_id)
                states = " or ".join(s.value for s in allowed)
                raise Conflict(
                    f"job {job_id} is {current.state.value}; only a {states} job can be {verb}",
                    code=refusal,
                    field="job_id",
                )
            job = JobRecord.of(row)
            AuditLog(session, self._clock).record(
                self._actor.audit_actor,
                action,
                target_type="job",
                target_id=job_id,
                details={"kind": job.kind},
            )
            if job.state is JobState.PENDING:
                wake_on_commit(session)
        return job

    def retry(self, job_id: int) -> JobRecord:
        """A failed or cancelled job back to pending, due now, with all its attempts again.
        Its last error stays until it runs, so the operator still sees why it failed."""
        now = self._clock.now()
        return self._transition(
            job_id,
            allowed=RETRYABLE,
            values={
                "state": JobState.PENDING.value,
                "attempts": 0,
                "run_after": now,
                "started_at": None,
                "finished_at": None,
                "lease_until": None,
                "worker": None,
                "dispatched_at": None,
            },
            action="job.retry",
            refusal="job_not_retryable",
            verb="retried",
        )

    def cancel(self, job_id: int) -> JobRecord:
        """A pending job is not run. (A running one cannot be stopped from here: its
        handler is already at work.)"""
        return self._transition(
            job_id,
            allowed=CANCELLABLE,
            values={
                "state": JobState.CANCELLED.value,
                "finished_at": self._clock.now(),
                "dispatched_at": None,
            },
            action="job.cancel",
            refusal="job_not_cancellable",
            verb="cancelled",
        )

    def ping(self) -> JobRecord:
        """Enqueue a ``noop`` job: when it has run, a runner is alive. Not audited (it
        changes nothing but the job list, where it is visible)."""
        authorize(self._actor, Action.JOB_MANAGE)
        now = self._clock.now()
        kind = self._kinds.get(PING_KIND)
        max_attempts = kind.max_attempts if kind is not None else 1
        with self._uow.write() as tx:
            job_id = enqueue(tx.session, PING_KIND, {}, now=now, max_attempts=max_attempts)
            assert job_id is not None  # no key: always a new row
            found = self._one(tx.session, _SELECT.where(JOBS.c.id == job_id))
            assert found is not None
        return found
