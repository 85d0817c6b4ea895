"""Job throughput with no-op jobs: the embedded runner on SQLite and PostgreSQL, and Celery
(``lemur worker --concurrency 2`` + ``lemur scheduler``) on PostgreSQL with Redis.

``python -m bench.jobs`` (or ``python -m bench --only jobs``). Each runner drains N ``noop``
jobs enqueued in bulk beforehand; the figure is N / the time from the start of the drain
until the last job is recorded ``succeeded``. Baselines, in the same run:

- embedded: the same claim and record SQL without the engine (one UPDATE ... RETURNING
  claiming a batch of 100, one executemany UPDATE recording them, in two transactions);
- Celery: a bare Celery task on the same Redis with 2 worker processes, no database
  (bench/celery_bare.py): the broker's and Celery's own cost per message.

Targets: embedded >= 1,000 jobs/s, Celery with 2 workers >= 500 jobs/s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update

from bench.harness import BACKENDS, LEMUR, Server, _free_port, pg_available

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"embedded": 1000.0, "celery": 500.0}
BATCH = 100


@dataclass
class JobResult:
    runner: str
    backend: str
    jobs: int
    seconds: float
    baseline: str
    baseline_seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def baseline_rate(self) -> float:
        return self.jobs / self.baseline_seconds

    @property
    def target(self) -> float:
        return TARGETS[self.runner]


def _container(server: Server) -> Any:
    from lemur.container import build_container

    return build_container(server.settings(), init=False)


def bulk_enqueue(container: Any, n: int) -> None:
    """``n`` pending no-op jobs in one transaction (one multi-row INSERT per 1,000)."""
    from lemur.jobs.models import JOBS, JobState

    now = container.clock.now()
    row = {
        "kind": "noop",
        "args": "{}",
        "state": JobState.PENDING.value,
        "attempts": 0,
        "max_attempts": 1,
        "run_after": now,
        "created_at": now,
    }
    with container.db.write() as session:
        for start in range(0, n, 1000):
            session.execute(insert(JOBS), [row] * min(1000, n - start))
        session.commit()


def count_succeeded(container: Any) -> int:
    from lemur.jobs.models import JOBS, JobState

    with container.db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(JOBS)
                .where(JOBS.c.state == JobState.SUCCEEDED.value)
            )
            or 0
        )


def embedded_drain(container: Any) -> None:
    """What the embedded runner of ``lemur serve`` does, round after round."""
    from lemur.jobs.embedded import EmbeddedRunner

    runner = EmbeddedRunner(container, container.job_kinds, (), batch=BATCH)
    while runner.step():
        pass


def relaxed_commit(session: Any) -> None:
    """As the engine's claims and successful outcomes commit on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def raw_drain(container: Any) -> None:
    """The engine's claim and record SQL, without the engine."""
    from lemur.jobs.models import JOBS, JobState

    jobs = JOBS
    record = (
        update(jobs)
        .where(
            jobs.c.id == bindparam("job_id"),
            jobs.c.state == JobState.RUNNING.value,
            jobs.c.attempts == bindparam("attempt"),
        )
        .values(
            state=JobState.SUCCEEDED.value,
            finished_at=bindparam("now"),
            lease_until=None,
            dispatched_at=None,
        )
    )
    while True:
        now = container.clock.now()
        candidates = (
            select(jobs.c.id)
            .where(jobs.c.state == JobState.PENDING.value, jobs.c.run_after <= now)
            .order_by(jobs.c.run_after, jobs.c.id)
            .limit(BATCH)
        )
        with container.db.write() as session:
            relaxed_commit(session)
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            rows = session.execute(
                update(jobs)
                .where(jobs.c.id.in_(candidates.scalar_subquery()))
                .values(
                    state=JobState.RUNNING.value,
                    attempts=jobs.c.attempts + 1,
                    started_at=now,
                    lease_until=now + dt.timedelta(minutes=10),
                    worker="raw",
                )
                .returning(jobs.c.id, jobs.c.attempts)
            ).all()
            session.commit()
        if not rows:
            return
        with container.db.write() as session:
            relaxed_commit(session)
            session.execute(
                record, [{"job_id": r.id, "attempt": r.attempts, "now": now} for r in rows]
            )
            session.commit()


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_embedded(backend: str, n: int, log: Callable[[str], None]) -> JobResult:
    server = Server(backend)
    try:
        server.init()
        container = _container(server)
        try:
            # Warm-up (connections, statement caches), then baseline, then the runner.
            bulk_enqueue(container, 200)
            embedded_drain(container)
            bulk_enqueue(container, n)
            raw = timed(lambda: raw_drain(container))
            bulk_enqueue(container, n)
            seconds = timed(lambda: embedded_drain(container))
            done = count_succeeded(container)
            if done != 2 * n + 200:
                raise RuntimeError(f"{backend}: {done} jobs succeeded, expected {2 * n + 200}")
        finally:
            container.close()
        result = JobResult("embedded", backend, n, seconds, "raw SQL", raw)
        log(
            f"[jobs] embedded {backend}: {result.rate:.0f} jobs/s (raw SQL {result.baseline_rate:.0f}/s)"
        )
        return result
    finally:
        server.destroy()


# --- Celery ----------------------------------------------------------------------------------


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.log_path.name}: no {text!r}:\n{self.output[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def spawn(argv: list[str], env: dict[str, str], log_path: Path) -> Process:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Process(process, log_path)


@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[str]:
    port = _free_port()
    redis = spawn(
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
            str(root),
        ],
        dict(os.environ),
        root / "redis.log",
    )
    try:
        redis.wait_for("Ready to accept connections", timeout=20)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        redis.stop()


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def bare_celery(broker: str, root: Path, n: int, concurrency: int) -> float:
    import redis

    os.environ["BENCH_BROKER_URL"] = broker
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    os.environ["BENCH_QUEUE"] = queue
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.celery_bare",
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--loglevel=WARNING",
            f"--queues={queue}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        root / "bare-worker.log",
    )
    try:
        import importlib

        bare = importlib.reload(importlib.import_module("bench.celery_bare"))
        client = redis.Redis.from_url(broker)
        counter = bare.COUNTER

        def send(count: int) -> None:
            with bare.app.producer_or_acquire() as producer:
                for i in range(count):
                    bare.noop.apply_async(args=[i], producer=producer)

        send(200)  # warm-up: the worker is up and its processes have run a task
        wait_until("the bare warm-up", lambda: int(client.get(counter) or 0) >= 200, 60)
        client.set(counter, 0)
        started = time.perf_counter()
        send(n)
        wait_until("the bare tasks", lambda: int(client.get(counter) or 0) >= n, 600)
        return time.perf_counter() - started
    finally:
        worker.stop()


def run_celery(n: int, concurrency: int, log: Callable[[str], None]) -> JobResult:
    server = Server("postgresql")
    try:
        server.init()
        with redis_server(server.root) as broker:
            bare = bare_celery(broker, server.root, n, concurrency)
            log(f"[jobs] bare Celery: {n / bare:.0f} tasks/s")
            env = {**server.env(), "LEMUR_BROKER_URL": broker, "LEMUR_LOG_LEVEL": "warning"}
            worker = spawn(
                [LEMUR, "worker", "--concurrency", str(concurrency), "--loglevel", "info"],
                env,
                server.root / "worker.log",
            )
            scheduler = spawn(
                [LEMUR, "scheduler", "--poll", "0.05"], env, server.root / "scheduler.log"
            )
            container = _container(server)
            try:
                worker.wait_for("ready.")
                scheduler.wait_for("lemur scheduler:")
                # Warm-up: each worker process builds its container at its first job.
                bulk_enqueue(container, 200)
                wait_until("the warm-up", lambda: count_succeeded(container) >= 200, 120)
                # The worker logs every task at INFO; measure with its real log level.
                started = time.perf_counter()
                bulk_enqueue(container, n)
                wait_until("the Celery jobs", lambda: count_succeeded(container) >= n + 200, 1200)
                seconds = time.perf_counter() - started
            finally:
                container.close()
                scheduler.stop()
                worker.stop()
        result = JobResult(
            "celery",
            "postgresql",
            n,
            seconds,
            "bare Celery",
            bare,
            note=f"{concurrency} worker processes, relay: lemur scheduler --poll 0.05",
        )
        log(f"[jobs] celery: {result.rate:.0f} jobs/s (bare Celery {result.baseline_rate:.0f}/s)")
        return result
    finally:
        server.destroy()


def run(
    backends: list[str], n: int, concurrency: int, log: Callable[[str], None]
) -> tuple[list[JobResult], list[str]]:
    results: list[JobResult] = []
    notes: list[str] = []
    has_pg = "postgresql" in backends and pg_available()
    if "postgresql" in backends and not has_pg:
        notes.append("PostgreSQL not reachable: its job runs were skipped")
    for backend in backends:
        if backend == "postgresql" and not has_pg:
            continue
        results.append(run_embedded(backend, n, log))
    if has_pg:
        results.append(run_celery(n, concurrency, log))
    return results, notes


def table(results: list[JobResult]) -> str:
    head = f"{'runner':<10} {'database':<11} {'jobs':>7} {'jobs/s':>8} {'target':>7} {'baseline':<12} {'base/s':>8} {'ratio':>6}"
    lines = [head, "-" * len(head)]
    for r in results:
        mark = "" if r.rate >= r.target else "  BELOW TARGET"
        lines.append(
            f"{r.runner:<10} {r.backend:<11} {r.jobs:>7} {r.rate:>8.0f} {r.target:>7.0f} "
            f"{r.baseline:<12} {r.baseline_rate:>8.0f} {r.rate / r.baseline_rate:>6.2f}{mark}"
        )
    for r in results:
        if r.note:
            lines.append(f"{r.runner}: {r.note}")
    return "\n".join(lines)


def to_json(results: list[JobResult]) -> list[dict[str, Any]]:
    return [
        {**asdict(r), "rate": r.rate, "baseline_rate": r.baseline_rate, "target": r.target}
        for r in results
    ]


def add_arguments(parser: argparse.ArgumentParser, *, backends: bool = True) -> None:
    if backends:
        parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--jobs", type=int, default=10000, help="no-op jobs per run")
    parser.add_argument(
        "--celery-concurrency", type=int, default=2, help="worker processes under Celery"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="2,000 jobs per run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n = 2000 if args.quick else args.jobs

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results, notes = run(args.backends.split(","), n, args.celery_concurrency, log)
    print(table(results))
    for note in notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=2))
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
