"""The ``jobs`` table: the outbox and the queue in one.

A job row is written in the same transaction as the change that causes it (see
:func:`lemur.jobs.outbox.enqueue`), so a committed change always has its job and a
rolled-back one never does. Runners claim rows (``pending`` -> ``running`` with a lease),
run them, and record the outcome; a row whose lease ran out (its worker died) goes back to
``pending``. Rows stay after they finish, as the history operators see.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import cast

from sqlalchemy import Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from lemur.db import Base, UTCDateTime


class JobState(enum.StrEnum):
    PENDING = "pending"  # waiting for run_after, or for a runner
    RUNNING = "running"  # claimed by a runner; lease_until says until when
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up: a permanent error, or every attempt failed
    CANCELLED = "cancelled"


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Claiming: the due pending jobs in order; reaping: running jobs by lease.
        Index("ix_jobs_state_run_after", "state", "run_after"),
        # Listing for operators, newest first, filtered by kind and/or state.
        Index("ix_jobs_kind_state_id", "kind", "state", "id"),
        Index("ix_jobs_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    args: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    # Idempotency key: a second enqueue with the same key is a no-op (a scheduler tick,
    # "renew certificate 42", "send notice 7"). NULL for jobs that may repeat.
    unique_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the Celery relay last handed the job to the broker (NULL: not since it became due).
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


JOBS = cast(Table, Job.__table__)
