"""Enqueueing: a job row written in the caller's transaction (the outbox).

The job exists exactly when the change that causes it is committed. With a ``key``, a
second enqueue of the same key does nothing (``ON CONFLICT DO NOTHING`` on both
databases), so a scheduler tick fired by two schedulers, or a pass that finds the same
certificate twice, yields one job.

Runners in this process are woken when the transaction commits (``after_commit``), so a
job enqueued by a request starts at once instead of at the next poll.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lemur.jobs.models import JOBS, JobState

DEFAULT_MAX_ATTEMPTS = 5

_wakers: list[Callable[[], None]] = []
_wakers_lock = threading.Lock()


def add_waker(wake: Callable[[], None]) -> None:
    """Call ``wake`` whenever a transaction that enqueued a job commits in this process."""
    with _wakers_lock:
        _wakers.append(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    with _wakers_lock:
        if wake in _wakers:
            _wakers.remove(wake)


def _wake_all(_session: Session) -> None:
    with _wakers_lock:
        wakers = list(_wakers)
    for wake in wakers:
        wake()


def _row(
    kind: str,
    args: Mapping[str, Any] | None,
    key: str | None,
    *,
    now: dt.datetime,
    run_after: dt.datetime | None,
    max_attempts: int,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "args": json.dumps(dict(args or {}), separators=(",", ":"), sort_keys=True),
        "unique_key": key,
        "state": JobState.PENDING.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "created_at": now,
    }


def enqueue(
    session: Session,
    kind: str,
    args: Mapping[str, Any] | None = None,
    *,
    now: dt.datetime,
    key: str | None = None,
    run_after: dt.datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int | None:
    """Write a job in ``session``'s transaction; its id, or None when ``key`` is taken."""
    values = _row(kind, args, key, now=now, run_after=run_after, max_attempts=max_attempts)
    table = JOBS
    dialect = session.get_bind().dialect.name
    if key is None:
        statement = insert(table).values(values).returning(table.c.id)
    elif dialect == "postgresql":
        statement = (
            pg_insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=["unique_key"])
            .returning(table.c.id)
        )
    else:
        statement = (
            sqlite_insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=["unique_key"])
            .returning(table.c.id)
        )
    job_id = session.execute(statement).scalar_one_or_none()
    if job_id is not None:
        wake_on_commit(session)
    return job_id


def enqueue_many(
    session: Session,
    kind: str,
    jobs: Sequence[tuple[Mapping[str, Any], str]],
    *,
    now: dt.datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> None:
    """Write one job per (args, key) in ``session``'s transaction, in one statement
    (executemany); keys already taken are skipped, as with :func:`enqueue`."""
    if not jobs:
        return
    rows = [
        _row(kind, args, key, now=now, run_after=None, max_attempts=max_attempts)
        for args, key in jobs
    ]
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make(JOBS).on_conflict_do_nothing(index_elements=["unique_key"]), rows)
    wake_on_commit(session)


def wake_on_commit(session: Session) -> None:
    """Wake this process's runners when ``session``'s transaction commits (a job became
    due in it: enqueued, or retried by an operator)."""
    if not event.contains(session, "after_commit", _wake_all):
        event.listen(session, "after_commit", _wake_all, once=True)
