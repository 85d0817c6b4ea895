"""Job kinds of the runner tests, importable by a ``lemur worker`` or ``lemur scheduler``
subprocess (``LEMUR_TEST_JOB_KINDS=tests.jobs.kinds``, see lemur/jobs/test_hooks.py)."""

from __future__ import annotations

import datetime as dt

from lemur.jobs.registry import JobContext, JobKind, PermanentJobError
from lemur.jobs.schedule import ScheduleEntry


def ok(ctx: JobContext) -> None:
    """Succeeds."""


def flaky(ctx: JobContext) -> None:
    if ctx.attempt < 3:
        raise ConnectionError("peer down")


def broken(ctx: JobContext) -> None:
    raise PermanentJobError("the certificate is gone")


KINDS = (
    JobKind("test.ok", ok, "succeeds"),
    JobKind("test.flaky", flaky, "fails twice, then succeeds", max_attempts=5, backoff_base=10),
    JobKind("test.broken", broken, "fails for good"),
    JobKind("test.tick", ok, "the job of the test schedule entry"),
)

TICK_EVERY = dt.timedelta(minutes=1)
SCHEDULE = (ScheduleEntry("test-tick", "test.tick", TICK_EVERY, description="tests"),)
