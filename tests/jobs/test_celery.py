"""Scale-out on Celery with real processes: ``lemur worker`` killed mid-job, two
``lemur scheduler`` processes, two relays, a broker that is down, and the commands' own
behaviour. PostgreSQL and a Redis server of the test session (tests/jobs/conftest.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from sqlalchemy import func, select

from lemur.clock import FrozenClock
from lemur.container import Container, build_container
from lemur.jobs.celery_app import create_celery
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import Job, JobState
from lemur.jobs.relay import REDISPATCH_AFTER_S, Relay, SchedulerLoop
from tests.jobs import kinds as test_kinds
from tests.jobs.conftest import (
    CeleryEnv,
    JobRunner,
    SharedFileClock,
    Worker,
    add_job,
    add_jobs,
    all_kinds,
    get_job,
    job_states,
    start_redis,
)
from tests.peers.server import free_port

# Every test here: Celery on PostgreSQL (job_runner gives the container the shared clock,
# the session's broker and the worker's key).
pytestmark = pytest.mark.parametrize(
    ("database_url", "job_runner"), [("postgresql", "celery")], indirect=True
)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def celery(celery_env: CeleryEnv) -> Iterator[CeleryEnv]:
    """The session's Celery environment; processes a test starts are stopped after it."""
    before = len(celery_env.workers)
    yield celery_env
    for worker in celery_env.workers[before:]:
        worker.stop()
    del celery_env.workers[before:]


def test_kill_9_of_a_worker_in_the_middle_of_a_job_loses_nothing(
    job_runner: JobRunner, container: Container, clock: SharedFileClock, celery: CeleryEnv
) -> None:
    # A queue of this test's own, so that only the workers started here take the job.
    queue = f"kill-{uuid.uuid4().hex[:6]}"
    kinds = all_kinds()
    relay = Relay(container, create_celery(container.settings), kinds, queue=queue)
    engine = JobEngine(container, kinds)
    job_id = add_job(container, "noop", {"seconds": 3})

    first = celery.start("worker", "--concurrency", "1", LEMUR_BROKER_QUEUE=queue)
    first.wait_ready()
    assert relay.dispatch_due() == 1
    wait_for("the job to run", lambda: get_job(container, job_id).state == JobState.RUNNING)
    running = get_job(container, job_id)
    assert running.worker is not None
    assert running.attempts == 1
    first.kill()

    # Nobody finishes it, and its lease still holds: it is not taken away early.
    time.sleep(0.5)
    assert get_job(container, job_id).state == JobState.RUNNING
    assert engine.reap() == 0
    # Once the lease has run out, the reaper hands it back.
    lease = max(kind.lease_seconds for kind in kinds.values())
    clock.advance(dt.timedelta(seconds=lease + 1))
    assert engine.reap() == 1
    reaped = get_job(container, job_id)
    assert reaped.state == JobState.PENDING
    assert reaped.dispatched_at is None
    assert reaped.last_error is not None
    assert "lease expired" in reaped.last_error

    second = celery.start("worker", "--concurrency", "1", LEMUR_BROKER_QUEUE=queue)
    second.wait_ready()

    def done() -> bool:
        relay.dispatch_due()
        return get_job(container, job_id).state == JobState.SUCCEEDED

    wait_for("the job to run again", done)
    job = get_job(container, job_id)
    assert job.attempts == 2
    assert job.last_error is None or "lease expired" in job.last_error
    assert job.worker != running.worker or job.started_at != running.started_at


def test_two_schedulers_fire_each_tick_once(
    job_runner: JobRunner, container: Container, clock: SharedFileClock, celery: CeleryEnv
) -> None:
    fast = ("--poll", "0.1", "--tick-seconds", "0.1", "--reap-seconds", "1")
    schedulers = [celery.start("scheduler", *fast, name="scheduler") for _ in range(2)]

    def ticks() -> list[Job]:
        with container.db.read() as session:
            rows = session.scalars(select(Job).where(Job.kind == "test.tick").order_by(Job.id))
            found = list(rows)
            for job in found:
                session.expunge(job)
            return found

    wait_for("the first tick", lambda: len(ticks()) >= 1)
    for _ in range(3):
        seen = len(ticks())
        clock.advance(test_kinds.TICK_EVERY)
        wait_for("the next tick", lambda seen=seen: len(ticks()) > seen)  # type: ignore[misc]
    wait_for(
        "every tick to run",
        lambda: all(j.state == JobState.SUCCEEDED for j in ticks()),
    )
    for scheduler in schedulers:
        assert "lemur scheduler: broker redis://127.0.0.1" in scheduler.output
        scheduler.stop()
        assert scheduler.process.returncode == 0, scheduler.output
        assert "lemur scheduler: stopped" in scheduler.output
    jobs = ticks()
    assert len(jobs) >= 4
    # One job per tick, each run once, and one scheduler said it fired it.
    assert len({json.loads(j.args)["tick"] for j in jobs}) == len(jobs)
    assert all(j.attempts == 1 for j in jobs)
    fired = sum(s.output.count("schedule: test-tick fired") for s in schedulers)
    assert fired == len(jobs)


def test_two_relays_send_each_job_once(
    job_runner: JobRunner, container: Container, celery: CeleryEnv
) -> None:
    # No worker consumes this queue: the messages stay there to be counted.
    queue = f"count-{uuid.uuid4().hex[:6]}"
    ids = add_jobs(container, "test.ok", [{"n": n} for n in range(300)])
    relays = [
        Relay(container, create_celery(container.settings), all_kinds(), queue=queue)
        for _ in range(2)
    ]
    sent = [0, 0]

    def run(index: int) -> None:
        while (n := relays[index].dispatch_due(limit=20)) > 0:
            sent[index] += n

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    client = redis.Redis.from_url(celery.redis.url)
    queued = [job_id for raw in client.lrange(queue, 0, -1) for job_id in _job_ids(raw)]
    assert sorted(queued) == sorted(ids)
    assert sum(sent) == 300
    assert all(sent), f"one relay sent everything: {sent}"
    with container.db.read() as session:
        undispatched = session.scalar(
            select(func.count()).select_from(Job).where(Job.dispatched_at.is_(None))
        )
    assert undispatched == 0
    client.delete(queue)


def test_a_broker_that_is_down_loses_nothing_and_jobs_run_when_it_is_back(
    job_runner: JobRunner,
    container: Container,
    celery: CeleryEnv,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    down = celery.settings_for(container.settings, broker_url=f"redis://127.0.0.1:{port}/0")
    kinds = all_kinds()
    loop = SchedulerLoop(
        container, create_celery(down), kinds, [], poll_interval=0.1, reap_interval=1
    )
    ids = add_jobs(container, "test.ok", [{"n": n} for n in range(5)])
    thread = threading.Thread(target=loop.run)
    caplog.set_level(logging.ERROR, logger="lemur.jobs")
    thread.start()
    server = None
    try:
        wait_for("the relay to notice", lambda: "cannot reach the broker" in caplog.text)
        assert f"redis://127.0.0.1:{port}/0" in caplog.text

        def untouched() -> bool:
            jobs = [get_job(container, job_id) for job_id in ids]
            return all(j.state == JobState.PENDING and j.dispatched_at is None for j in jobs)

        # The jobs it tried to send are unmarked again, and stay so while the broker is down.
        wait_for("the jobs to be unmarked", untouched)
        time.sleep(3)
        assert untouched()
        assert thread.is_alive()
        # The broker comes back (on the same address), and a worker with it.
        server = start_redis(port)
        worker = celery.start(LEMUR_BROKER_URL=f"redis://127.0.0.1:{port}/0")
        worker.wait_ready()
        wait_for(
            "the jobs to run",
            lambda: all(get_job(container, i).state == JobState.SUCCEEDED for i in ids),
            timeout=60,
        )
    finally:
        loop.stop()
        thread.join(30)
        if server is not None:
            celery.workers[-1].stop()
            server.stop()
    assert not thread.is_alive()
    assert [get_job(container, i).attempts for i in ids] == [1] * 5, job_states(container)


def test_the_worker_says_what_it_connects_to_and_stops_on_sigterm(
    job_runner: JobRunner, container: Container, celery: CeleryEnv
) -> None:
    worker: Worker = celery.start(
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "2",
        "--json",
        LEMUR_BROKER_URL=celery.redis.url.replace("redis://", "redis://:s3cret@"),
    )
    worker.wait_ready()
    line = next(x for x in worker.output.splitlines() if x.startswith("{"))
    started = json.loads(line)
    assert started["command"] == "worker"
    assert started["broker"] == f"redis://:***@127.0.0.1:{celery.redis.port}/0"
    assert started["queue"] == celery.queue
    assert started["pool"] == "threads"
    assert started["concurrency"] == 2
    assert "s3cret" not in worker.output
    worker.stop()
    assert worker.process.returncode == 0, worker.output


def test_the_commands_refuse_to_start_without_a_broker(
    job_runner: JobRunner, container: Container, celery: CeleryEnv
) -> None:
    for command in ("worker", "scheduler"):
        process = celery.start(command, "--json", LEMUR_BROKER_URL="")
        process.process.wait(60)
        assert process.process.returncode == 7, process.output
        error = json.loads(process.output.strip().splitlines()[-1])
        assert "LEMUR_BROKER_URL" in error["error"]["message"]


def test_a_lost_message_is_sent_again_but_a_waiting_backlog_is_not_doubled(
    job_runner: JobRunner, container: Container, clock: SharedFileClock, celery: CeleryEnv
) -> None:
    queue = f"lost-{uuid.uuid4().hex[:6]}"  # nobody consumes it
    relay = Relay(container, create_celery(container.settings), all_kinds(), queue=queue)
    client = redis.Redis.from_url(celery.redis.url)
    ids = add_jobs(container, "test.ok", [{"n": n} for n in range(5)])
    assert relay.dispatch_due() == 5
    assert relay.dispatch_due() == 0
    # Long after: still pending, but their messages wait in the queue (a backlog).
    clock.advance(dt.timedelta(seconds=REDISPATCH_AFTER_S + 1))
    assert relay.dispatch_due() == 0
    assert client.llen(queue) == 5
    # Redis loses its data: the jobs are sent again.
    client.delete(queue, f"_kombu.binding.{queue}")
    assert relay.dispatch_due() == 5
    assert client.llen(queue) == 5
    assert all(get_job(container, i).state == JobState.PENDING for i in ids)
    client.delete(queue, f"_kombu.binding.{queue}")


def test_a_job_sent_early_by_a_relay_whose_clock_is_ahead_runs_once_due(
    job_runner: JobRunner, container: Container, clock: SharedFileClock, celery: CeleryEnv
) -> None:
    job_id = add_job(container, "test.ok", run_after=clock.now() + dt.timedelta(minutes=30))
    # A scheduler on a machine whose clock runs an hour ahead sends it now.
    ahead = build_container(
        container.settings, init=False, clock=FrozenClock(clock.now() + dt.timedelta(hours=1))
    )
    try:
        early = Relay(ahead, create_celery(ahead.settings), all_kinds())
        assert early.dispatch_due() == 1
    finally:
        ahead.close()
    # The worker does not run it before it is due by its own clock, and unmarks it.
    wait_for("the worker to hand it back", lambda: get_job(container, job_id).dispatched_at is None)
    job = get_job(container, job_id)
    assert job.state == JobState.PENDING
    assert job.attempts == 0
    clock.advance(dt.timedelta(minutes=31))
    job_runner.drain()
    job = get_job(container, job_id)
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 1


def _job_ids(raw: bytes) -> list[int]:
    """The job ids a queued Celery message carries (protocol 2: base64 JSON body
    ``[args, kwargs, embed]``, our one argument being the list of ids)."""
    message = json.loads(raw)
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return [int(i) for i in args[0]]
