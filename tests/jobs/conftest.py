"""Running jobs in tests under both runners: ``job_runner``.

A test that takes ``job_runner`` runs three times: the embedded runner on SQLite and on
PostgreSQL (``JobEngine.run_due`` in the test's process), and Celery on PostgreSQL: a real
``lemur worker`` process (started once per test session, on a Redis server of its own)
runs the jobs that the relay, driven by the test, sends it. Write the test once:

    def test_x(job_runner: JobRunner, container: Container, clock: RunnerClock) -> None:
        job_id = add_job(container, "test.ok")
        job_runner.drain()
        assert get_job(container, job_id).state == JobState.SUCCEEDED

- ``job_runner.drain(timeout)`` returns when no due job is pending and none is running
  (jobs waiting for a retry are not due until the clock passes their ``run_after``);
- ``clock`` is a FrozenClock under the embedded runner and, under Celery, real time plus an
  offset kept in a file the worker reads too (``LEMUR_TEST_CLOCK_FILE``): ``clock.now()``
  and ``clock.advance(delta)`` work the same; do not assert exact instants;
- the container runs the catalog's kinds plus tests/jobs/kinds.py (``test.ok``,
  ``test.flaky``, ``test.broken``); a worker process can only run kinds it can import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from lemur.clock import FrozenClock, OffsetFileClock
from lemur.config import Settings
from lemur.container import Container
from lemur.crypto.keyring import generate_key
from lemur.jobs.catalog import default_kinds
from lemur.jobs.celery_app import create_celery
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import Job, JobState
from lemur.jobs.outbox import enqueue
from lemur.jobs.registry import JobKinds
from lemur.jobs.relay import Relay
from lemur.jobs.schedule import DEFAULT_SCHEDULE
from tests.conftest import START, _empty_postgres
from tests.jobs import kinds as test_kinds
from tests.peers.server import clean_env, free_port, lemur_command

ROOT = Path(__file__).resolve().parent.parent.parent
RUNNERS = [("sqlite", "embedded"), ("postgresql", "embedded"), ("postgresql", "celery")]


class RunnerClock(Protocol):
    def now(self) -> dt.datetime: ...

    def advance(self, delta: dt.timedelta) -> None: ...


class JobRunner(Protocol):
    name: str

    def drain(self, timeout: float = 30.0) -> None: ...


def all_kinds() -> JobKinds:
    return JobKinds([*default_kinds().values(), *test_kinds.KINDS])


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A parametrize mark (not a call) so that it takes precedence over the params of the
    # database_url fixture: Celery runs on PostgreSQL only.
    marks = metafunc.definition.iter_markers("parametrize")
    chosen = any("job_runner" in str(mark.args[0]) for mark in marks)
    if "job_runner" in metafunc.fixturenames and not chosen:
        metafunc.definition.add_marker(
            pytest.mark.parametrize(
                ("database_url", "job_runner"),
                RUNNERS,
                indirect=True,
                ids=[f"{runner}-{db}" for db, runner in RUNNERS],
            )
        )


def runner_of(request: pytest.FixtureRequest) -> str:
    callspec = getattr(request.node, "callspec", None)
    return str(callspec.params.get("job_runner", "embedded")) if callspec else "embedded"


# --- the clock a worker process shares --------------------------------------------------------


class SharedFileClock(OffsetFileClock):
    """Real time plus an offset in a file that ``lemur worker`` reads as well."""

    _mtime_ns = 0

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.offset = 0.0

    def set_offset(self, seconds: float) -> None:
        self.offset = seconds
        self._path.write_text(f"{seconds!r}\n")
        # The reader notices a change by mtime and size: make the mtime strictly newer even
        # for two writes within the file system's timestamp granularity.
        stamp = max(time.time_ns(), SharedFileClock._mtime_ns + 1_000_000)
        SharedFileClock._mtime_ns = stamp
        os.utime(self._path, ns=(stamp, stamp))

    def advance(self, delta: dt.timedelta) -> None:
        self.set_offset(self.offset + delta.total_seconds())


# --- Redis and the session's worker -------------------------------------------------------------


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_redis(port: int | None = None) -> RedisServer:
    """A throw-away redis-server on a loopback port (no persistence)."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/tmp",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, process)
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                return server
        except redis.exceptions.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in self.output:
            if self.process.poll() is not None:
                raise RuntimeError(f"lemur worker exited:\n{self.output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lemur worker not ready after {timeout}s:\n{self.output}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (warm shutdown), then SIGKILL to the process group it leads."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()

    def kill(self) -> None:
        """kill -9 of the worker and of its pool processes (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@dataclass
class CeleryEnv:
    """What the worker processes of a test session share with the tests' containers."""

    directory: Path
    pg_url: str
    key: str
    redis: RedisServer
    queue: str
    clock_file: Path
    workers: list[Worker] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        values = {
            "LEMUR_DATABASE_URL": self.pg_url,
            "LEMUR_ENCRYPTION_KEYS": self.key,
            "LEMUR_BROKER_URL": self.redis.url,
            "LEMUR_BROKER_QUEUE": self.queue,
            "LEMUR_TEST_CLOCK_FILE": str(self.clock_file),
            "LEMUR_ALLOW_TEST_CLOCK": "1",
            "LEMUR_TEST_JOB_KINDS": "tests.jobs.kinds",
            # Nothing from the default schedule: the catalog's kinds are not under test here.
            "LEMUR_SCHEDULE": json.dumps({e.name: "off" for e in DEFAULT_SCHEDULE}),
            "PYTHONPATH": str(ROOT),
            **extra,
        }
        data_dir = self.directory / "data"
        data_dir.mkdir(mode=0o700, exist_ok=True)
        return clean_env(data_dir, values)

    def settings_for(self, settings: Settings, **extra: Any) -> Settings:
        return settings.model_copy(
            update={
                "encryption_keys": SecretStr(self.key),
                "broker_url": self.redis.url,
                "broker_queue": self.queue,
                **extra,
            }
        )

    def start(self, *args: str, name: str = "worker", **env: str) -> Worker:
        """A ``lemur <args>`` process (``worker`` by default) in a process group of its own."""
        log_path = self.directory / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*lemur_command(), *(args or ("worker", "--concurrency", "2"))],
                env=self.env(**env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        return worker

    def clock(self) -> SharedFileClock:
        return SharedFileClock(self.clock_file)


@pytest.fixture(scope="session")
def celery_env(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[CeleryEnv]:
    """A Redis server and one ``lemur worker`` (2 processes) for the whole test session,
    on the session's PostgreSQL database (emptied between tests), with a queue and a clock
    file of its own."""
    directory = tmp_path_factory.mktemp("celery")
    redis = start_redis()
    clock_file = directory / "clock-offset"
    clock_file.write_text("0\n")
    env = CeleryEnv(
        directory, pg_url, generate_key(), redis, f"lemur-test-{uuid.uuid4().hex[:8]}", clock_file
    )
    try:
        # The worker checks the database at start: initialised, and with no other test's
        # keys. Each test then empties it and initialises it again with the same key.
        _empty_postgres(pg_url)
        done = subprocess.run(
            [*lemur_command(), "init"],
            env=env.env(LEMUR_CREATE_LOCAL_CA="false"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        env.start().wait_ready()
        yield env
    finally:
        for worker in env.workers:
            worker.stop()
        redis.stop()


# --- the fixtures tests use -------------------------------------------------------------------


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> RunnerClock:
    if runner_of(request) == "celery":
        shared = request.getfixturevalue("celery_env").clock()
        shared.set_offset(0.0)
        return shared  # type: ignore[no-any-return]
    return FrozenClock(START)


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if runner_of(request) == "celery":
        celery: CeleryEnv = request.getfixturevalue("celery_env")
        return celery.settings_for(settings)
    return settings


def jobs_idle(container: Container, kinds: JobKinds) -> bool:
    """No due pending job and no running one (of the kinds this installation runs)."""
    now = container.clock.now()
    busy = (
        (Job.state == JobState.RUNNING.value)
        | ((Job.state == JobState.PENDING.value) & (Job.run_after <= now))
    ) & Job.kind.in_(list(kinds))
    with container.db.read() as session:
        return (session.scalar(select(func.count()).select_from(Job).where(busy)) or 0) == 0


def job_states(container: Container) -> list[tuple[int, str, str, int]]:
    with container.db.read() as session:
        rows = session.execute(select(Job.id, Job.kind, Job.state, Job.attempts).order_by(Job.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


class EmbeddedJobRunner:
    name = "embedded"

    def __init__(self, container: Container, kinds: JobKinds) -> None:
        self.container = container
        self.engine = JobEngine(container, kinds)
        self.kinds = kinds

    def drain(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        self.engine.reap()
        while self.engine.run_due() or not jobs_idle(self.container, self.kinds):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"jobs still due after {timeout}s: {job_states(self.container)}"
                )


class CeleryJobRunner:
    """The relay of ``lemur scheduler``, driven by the test, and the session's worker."""

    name = "celery"

    def __init__(self, container: Container, kinds: JobKinds, celery: CeleryEnv) -> None:
        self.container = container
        self.kinds = kinds
        self.celery = celery
        self.app = create_celery(container.settings)
        self.relay = Relay(container, self.app, kinds)
        self.engine = JobEngine(container, kinds)

    def drain(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        self.engine.reap()
        while True:
            self.relay.dispatch_due()
            if jobs_idle(self.container, self.kinds):
                return
            if time.monotonic() > deadline:
                logs = "\n".join(w.output[-3000:] for w in self.celery.workers)
                raise AssertionError(
                    f"jobs still due after {timeout}s: {job_states(self.container)}\n{logs}"
                )
            time.sleep(0.02)

    def close(self) -> None:
        self.app.close()


@pytest.fixture
def job_runner(request: pytest.FixtureRequest, container: Container) -> Iterator[JobRunner]:
    kinds = all_kinds()
    container.job_kinds_override = kinds
    if request.param == "embedded":
        yield EmbeddedJobRunner(container, kinds)
        return
    runner = CeleryJobRunner(container, kinds, request.getfixturevalue("celery_env"))
    try:
        yield runner
    finally:
        runner.close()


# --- helpers -----------------------------------------------------------------------------------


def add_job(
    container: Container, kind: str, args: dict[str, object] | None = None, **kw: Any
) -> int:
    with container.db.write() as session:
        job_id = enqueue(session, kind, args, now=container.clock.now(), **kw)
        session.commit()
    assert job_id is not None
    return job_id


def add_jobs(container: Container, kind: str, args: Sequence[dict[str, object]]) -> list[int]:
    with container.db.write() as session:
        ids = [enqueue(session, kind, a, now=container.clock.now()) for a in args]
        session.commit()
    return [i for i in ids if i is not None]


def get_job(container: Container, job_id: int) -> Job:
    with container.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job
