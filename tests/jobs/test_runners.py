"""The engine's promises under every runner: embedded (SQLite, PostgreSQL) and a real
``lemur worker`` on Celery with Redis (PostgreSQL). See tests/jobs/conftest.py."""

from __future__ import annotations

import datetime as dt

from lemur.container import Container
from lemur.jobs.models import JobState
from tests.jobs.conftest import JobRunner, RunnerClock, add_job, add_jobs, get_job


def test_jobs_enqueued_in_a_transaction_run_once_and_succeed(
    job_runner: JobRunner, container: Container
) -> None:
    ids = add_jobs(container, "test.ok", [{"n": n} for n in range(20)])
    job_runner.drain()
    for job_id in ids:
        job = get_job(container, job_id)
        assert job.state == JobState.SUCCEEDED
        assert job.attempts == 1
        assert job.finished_at is not None
        assert job.lease_until is None


def test_a_failing_job_retries_with_backoff_then_succeeds(
    job_runner: JobRunner, container: Container, clock: RunnerClock
) -> None:
    job_id = add_job(container, "test.flaky")
    waits = []
    for attempt in (1, 2):
        job_runner.drain()
        job = get_job(container, job_id)
        assert job.state == JobState.PENDING
        assert job.attempts == attempt
        assert job.last_error is not None
        assert job.last_error.startswith("ConnectionError: peer down")
        assert job.started_at is not None
        waits.append(job.run_after - job.started_at)
        # Not due yet: draining again runs nothing.
        job_runner.drain()
        assert get_job(container, job_id).attempts == attempt
        clock.advance(job.run_after - clock.now())
    job_runner.drain()
    job = get_job(container, job_id)
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 3
    # 10 s base: first retry 5..15 s, second 10..30 s (plus the time the attempt took).
    slack = dt.timedelta(seconds=1)
    assert dt.timedelta(seconds=5) <= waits[0] <= dt.timedelta(seconds=15) + slack
    assert dt.timedelta(seconds=10) <= waits[1] <= dt.timedelta(seconds=30) + slack


def test_a_permanent_failure_stays_visible_with_its_error(
    job_runner: JobRunner, container: Container
) -> None:
    broken = add_job(container, "test.broken")
    bad_args = add_job(container, "noop", {"seconds": "soon"})
    job_runner.drain()
    job = get_job(container, broken)
    assert job.state == JobState.FAILED
    assert job.attempts == 1
    assert job.last_error is not None
    assert job.last_error.startswith("PermanentJobError: the certificate is gone")
    job = get_job(container, bad_args)
    assert job.state == JobState.FAILED
    assert job.last_error is not None
    assert "seconds must be a number" in job.last_error


def test_the_last_failed_attempt_fails_the_job(job_runner: JobRunner, container: Container) -> None:
    job_id = add_job(container, "test.flaky", max_attempts=1)
    job_runner.drain()
    job = get_job(container, job_id)
    assert job.state == JobState.FAILED
    assert job.last_error is not None
    assert job.last_error.startswith("ConnectionError: peer down")
