"""The job engine on both databases: the outbox, claiming, retries, leases and the schedule."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading

import pytest
from sqlalchemy import func, select, text

from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.errors import ConfigurationError
from lemur.jobs.embedded import EmbeddedRunner
from lemur.jobs.engine import JobEngine, backoff
from lemur.jobs.models import Job, JobState
from lemur.jobs.outbox import enqueue
from lemur.jobs.registry import JobContext, JobKind, JobKinds, LeaseLost, PermanentJobError
from lemur.jobs.schedule import ScheduleEntry, build_schedule, fire_due


class Calls:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def record(self, ctx: JobContext) -> None:
        with self.lock:
            self.seen.append((ctx.job_id, ctx.attempt))


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def kinds(calls: Calls) -> JobKinds:
    def ok(ctx: JobContext) -> None:
        calls.record(ctx)

    def flaky(ctx: JobContext) -> None:
        calls.record(ctx)
        if ctx.attempt < 3:
            raise ConnectionError("peer down")

    def broken(ctx: JobContext) -> None:
        calls.record(ctx)
        raise PermanentJobError("the certificate is gone")

    def marks(ctx: JobContext) -> None:
        # Writes its effect and completes in one transaction.
        with ctx.container.db.write() as session:
            session.execute(
                text("UPDATE jobs SET last_error = :m WHERE id = :i"),
                {"m": f"effect-{ctx.job_id}", "i": ctx.args["target"]},
            )
            ctx.complete(session)
            session.commit()

    return JobKinds(
        [
            JobKind("ok", ok, "succeeds"),
            JobKind("flaky", flaky, "fails twice", max_attempts=5, backoff_base=10),
            JobKind("broken", broken, "fails for good"),
            JobKind("marks", marks, "effect and completion together"),
        ]
    )


def _add(
    container: Container, kind: str, args: dict[str, object] | None = None, **kw: object
) -> int | None:
    with container.db.write() as session:
        job_id = enqueue(session, kind, args, now=container.clock.now(), **kw)  # type: ignore[arg-type]
        session.commit()
    return job_id


def _job(container: Container, job_id: int) -> Job:
    with container.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_a_job_exists_only_if_its_transaction_commits(container: Container) -> None:
    with container.db.write() as session:
        enqueue(session, "ok", {"a": 1}, now=container.clock.now())
        session.rollback()
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_key_is_enqueued_once(container: Container) -> None:
    first = _add(container, "ok", key="renew:42")
    again = _add(container, "ok", key="renew:42")
    assert first is not None
    assert again is None
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_jobs_run_once_and_succeed(container: Container, kinds: JobKinds, calls: Calls) -> None:
    ids = [_add(container, "ok", {"n": n}) for n in range(5)]
    engine = JobEngine(container, kinds)
    assert engine.run_due() == 5
    assert engine.run_due() == 0
    assert sorted(calls.seen) == sorted((i, 1) for i in ids)
    for job_id in ids:
        job = _job(container, job_id)  # type: ignore[arg-type]
        assert job.state == JobState.SUCCEEDED
        assert job.finished_at == container.clock.now()
        assert job.lease_until is None


def test_failures_retry_with_growing_backoff_then_succeed(
    container: Container, clock: FrozenClock, kinds: JobKinds, calls: Calls
) -> None:
    job_id = _add(container, "flaky")
    assert job_id is not None
    engine = JobEngine(container, kinds, rng=random.Random(7))
    waits = []
    for _ in range(2):
        assert engine.run_due() == 1
        job = _job(container, job_id)
        assert job.state == JobState.PENDING
        assert job.last_error is not None
        assert job.last_error.startswith("ConnectionError: peer down")
        waits.append(job.run_after - clock.now())
        # Not due yet: nothing runs until the backoff has passed.
        assert engine.run_due() == 0
        clock.advance(job.run_after - clock.now())
    assert engine.run_due() == 1
    job = _job(container, job_id)
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 3
    assert [a for _, a in calls.seen] == [1, 2, 3]
    # 10 s base: first retry 5..15 s, second 10..30 s.
    assert dt.timedelta(seconds=5) <= waits[0] <= dt.timedelta(seconds=15)
    assert dt.timedelta(seconds=10) <= waits[1] <= dt.timedelta(seconds=30)


def test_backoff_is_capped_and_jittered() -> None:
    kind = JobKind("k", lambda ctx: None, "", backoff_base=30, backoff_cap=3600)
    rng = random.Random(1)
    samples = [backoff(kind, 20, rng) for _ in range(200)]
    assert all(1800 <= s <= 5400 for s in samples)
    assert len({round(s) for s in samples}) > 100


def test_a_permanent_error_fails_at_once_and_stays_visible(
    container: Container, kinds: JobKinds
) -> None:
    job_id = _add(container, "broken")
    assert job_id is not None
    engine = JobEngine(container, kinds)
    engine.run_due()
    job = _job(container, job_id)
    assert job.state == JobState.FAILED
    assert job.attempts == 1
    assert job.last_error is not None
    assert "PermanentJobError: the certificate is gone" in job.last_error


def test_the_last_failed_attempt_fails_the_job(
    container: Container, clock: FrozenClock, kinds: JobKinds
) -> None:
    job_id = _add(container, "flaky", max_attempts=2)
    assert job_id is not None
    engine = JobEngine(container, kinds)
    engine.run_due()
    clock.advance(dt.timedelta(hours=1))
    engine.run_due()
    job = _job(container, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 2)


def test_unknown_kinds_are_left_for_a_runner_that_knows_them(
    container: Container, kinds: JobKinds
) -> None:
    job_id = _add(container, "from-a-newer-version")
    assert job_id is not None
    assert JobEngine(container, kinds).run_due() == 0
    assert _job(container, job_id).state == JobState.PENDING


def test_effect_and_completion_commit_together(container: Container, kinds: JobKinds) -> None:
    target = _add(container, "ok", run_after=container.clock.now() + dt.timedelta(days=1))
    job_id = _add(container, "marks", {"target": target})
    assert job_id is not None
    JobEngine(container, kinds).run_due()
    assert _job(container, job_id).state == JobState.SUCCEEDED
    assert _job(container, target).last_error == f"effect-{job_id}"  # type: ignore[arg-type]


def test_a_runner_that_lost_its_lease_cannot_commit_the_effect(
    container: Container, clock: FrozenClock, kinds: JobKinds
) -> None:
    target = _add(container, "ok", run_after=container.clock.now() + dt.timedelta(days=1))
    job_id = _add(container, "marks", {"target": target})
    assert job_id is not None
    slow = JobEngine(container, kinds, worker="slow")
    (claimed,) = slow.claim(10)
    # The slow runner hangs past its lease; the reaper hands the job to another runner.
    clock.advance(dt.timedelta(hours=1))
    assert JobEngine(container, kinds).reap() == 1
    assert _job(container, job_id).state == JobState.PENDING
    fast = JobEngine(container, kinds, worker="fast")
    assert fast.run_due() == 1
    # The slow runner wakes up: its effect is rolled back, its outcome not written.
    outcome = slow.execute(claimed)
    slow.record([outcome])
    job = _job(container, job_id)
    assert (job.state, job.attempts, job.worker) == (JobState.SUCCEEDED, 2, "fast")
    ctx = JobContext(container, job_id, "marks", {}, attempt=1, max_attempts=5)
    with container.db.write() as session, pytest.raises(LeaseLost):
        ctx.complete(session)


def test_a_dead_workers_job_runs_again(
    container: Container, clock: FrozenClock, kinds: JobKinds, calls: Calls
) -> None:
    job_id = _add(container, "ok")
    dead = JobEngine(container, kinds, worker="dead")
    assert len(dead.claim(10)) == 1  # ... and the worker is killed here
    assert JobEngine(container, kinds).reap() == 0  # lease still running
    clock.advance(dt.timedelta(minutes=11))
    engine = JobEngine(container, kinds)
    assert engine.reap() == 1
    job = _job(container, job_id)  # type: ignore[arg-type]
    assert "lease expired" in (job.last_error or "")
    engine.run_due()
    assert calls.seen == [(job_id, 2)]
    assert _job(container, job_id).state == JobState.SUCCEEDED  # type: ignore[arg-type]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_runners_never_run_a_job_twice(
    container: Container, kinds: JobKinds, calls: Calls
) -> None:
    with container.db.write() as session:
        for n in range(400):
            enqueue(session, "ok", {"n": n}, now=container.clock.now())
        session.commit()
    engines = [JobEngine(container, kinds, worker=f"w{i}") for i in range(4)]

    def drain(engine: JobEngine) -> None:
        while engine.run_due(25):
            pass

    threads = [threading.Thread(target=drain, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls.seen) == 400
    assert len({job_id for job_id, _ in calls.seen}) == 400
    with container.db.read() as session:
        workers = session.scalars(select(Job.worker).distinct()).all()
    assert len(workers) > 1


def test_a_tick_fires_once_however_many_schedulers(
    container: Container, clock: FrozenClock
) -> None:
    entries = [ScheduleEntry("renewal", "ok", dt.timedelta(hours=1))]
    fired = []
    for _ in range(3):
        with container.db.write() as session:
            fired += fire_due(session, entries, clock.now())
            session.commit()
    assert len(fired) == 1
    clock.advance(dt.timedelta(hours=1))
    with container.db.write() as session:
        assert len(fire_due(session, entries, clock.now())) == 1
        session.commit()
    with container.db.read() as session:
        keys = session.scalars(select(Job.unique_key).order_by(Job.id)).all()
        args = [json.loads(a) for a in session.scalars(select(Job.args).order_by(Job.id))]
    assert keys == [
        "schedule:renewal:2026-11-27T12:00:00+00:00",
        "schedule:renewal:2026-11-27T13:00:00+00:00",
    ]
    assert args[0] == {"tick": "2026-11-27T12:00:00+00:00"}


def test_schedule_overrides_are_checked() -> None:
    schedule = {
        e.name: e
        for e in build_schedule(
            {"renewal": "15m", "cleanup": "off", "expiry-notifications": "daily@06:30"}
        )
    }
    assert "cleanup" not in schedule
    assert schedule["renewal"].every == dt.timedelta(minutes=15)
    assert schedule["expiry-notifications"].spec == "daily@06:30"
    with pytest.raises(ConfigurationError, match="unknown entry renwal"):
        build_schedule({"renwal": "1h"})
    with pytest.raises(ConfigurationError, match="daily@08:00"):
        build_schedule({"renewal": "hourly"})


def test_the_embedded_runner_runs_a_job_as_soon_as_it_is_committed(
    container: Container, kinds: JobKinds, calls: Calls
) -> None:
    runner = EmbeddedRunner(container, kinds, [], poll_interval=30)
    runner.start()
    try:
        runner._wake.wait(0.1)
        job_id = _add(container, "ok")
        for _ in range(100):
            if calls.seen:
                break
            threading.Event().wait(0.05)
    finally:
        runner.stop()
    # Well before the 30 s poll: the commit woke the runner.
    assert calls.seen == [(job_id, 1)]


def _audited_failures(container: Container) -> list[tuple[str, str, str]]:
    with container.db.read() as session:
        rows = session.execute(
            text(
                "SELECT actor, target_id, outcome FROM audit_events WHERE action = 'job.fail' ORDER BY seq"
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_job_that_gives_up_is_an_audit_event(
    container: Container, clock: FrozenClock, kinds: JobKinds
) -> None:
    broken = _add(container, "broken")
    lost = _add(container, "ok", max_attempts=1)
    engine = JobEngine(container, kinds)
    (first, _) = engine.claim(1), None
    engine.record([engine.execute(c) for c in first])
    engine.claim(1)  # the worker holding "lost" on its only attempt dies
    clock.advance(dt.timedelta(hours=1))
    assert engine.reap() == 1
    assert _job(container, lost).state == JobState.FAILED  # type: ignore[arg-type]
    assert _audited_failures(container) == [
        ("job:broken", str(broken), "failure"),
        ("job:ok", str(lost), "failure"),
    ]
