"""The jobs API's answers (also what ``lemur jobs`` parses)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from lemur.jobs.models import JobState
from lemur.jobs.registry import JobKind
from lemur.jobs.service import JobRecord, ScheduledRun


class JobOut(BaseModel):
    id: int
    kind: str
    state: JobState
    args: dict[str, Any] = Field(description="What the job works on: ids, never secrets.")
    key: str | None = Field(description="Idempotency key: a second enqueue of it was a no-op.")
    attempts: int = Field(description="Attempts started so far (0 until it first runs).")
    max_attempts: int
    run_after: dt.datetime = Field(description="Not run before this time (a retry's backoff).")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    lease_until: dt.datetime | None = Field(
        description="While running: when another runner may take it over."
    )
    worker: str | None = Field(description="host:pid of the runner that last claimed it.")
    last_error: str | None

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls(
            id=job.id,
            kind=job.kind,
            state=job.state,
            args=job.args,
            key=job.unique_key,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            run_after=job.run_after,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            lease_until=job.lease_until,
            worker=job.worker,
            last_error=job.last_error,
        )


class JobPageOut(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class JobKindOut(BaseModel):
    name: str
    description: str
    max_attempts: int
    lease_seconds: float

    @classmethod
    def of(cls, kind: JobKind) -> JobKindOut:
        return cls(
            name=kind.name,
            description=kind.description,
            max_attempts=kind.max_attempts,
            lease_seconds=kind.lease_seconds,
        )


class ScheduleEntryOut(BaseModel):
    name: str
    kind: str
    spec: str = Field(description="'off', an interval such as '1h', or 'daily@HH:MM' (UTC).")
    description: str
    installed: bool = Field(description="Whether this installation has the entry's job kind.")
    next_tick: dt.datetime | None

    @classmethod
    def of(cls, run: ScheduledRun) -> ScheduleEntryOut:
        return cls(
            name=run.name,
            kind=run.kind,
            spec=run.spec,
            description=run.description,
            installed=run.installed,
            next_tick=run.next_tick,
        )


class JobKindsOut(BaseModel):
    kinds: list[JobKindOut]
    schedule: list[ScheduleEntryOut]
