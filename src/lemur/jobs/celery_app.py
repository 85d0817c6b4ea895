"""Celery for scale-out: ``lemur worker`` runs the jobs the broker names.

The database is the truth; a Celery message only says "run jobs N, M, ...". The relay
(:mod:`lemur.jobs.relay`, in ``lemur scheduler``) sends the due jobs in small batches (one
message per batch, so a burst of fast jobs costs one claim and one record per batch, not
per job); a worker claims them with :meth:`lemur.jobs.engine.JobEngine.run_ids`, a
conditional UPDATE, so a duplicate or stale message does nothing, and a lost one is sent
again by the relay.
Nothing is stored in the broker that the database does not also hold: Redis may be
flushed or restarted without losing a job.

Settings: ``LEMUR_BROKER_URL`` (e.g. ``redis://127.0.0.1:6379/0``) and
``LEMUR_BROKER_QUEUE`` (default ``lemur``; installations sharing a broker use different
queues).
"""

from __future__ import annotations

import logging
import os
import re
import threading

from celery import Celery
from sqlalchemy import update

from lemur.config import Settings
from lemur.errors import ConfigurationError
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import JOBS, JobState

log = logging.getLogger("lemur.jobs")

TASK = "lemur.run_jobs"
# user:password@ in each URL of a broker URL (sentinel URLs list several, with ";")
_PASSWORD = re.compile(r"(//[^:/@;]*:)[^@/;]*@")
# Messages a worker process reserves ahead of the one it runs. Jobs are claimed from the
# database only when they start, so a reserved message holds nothing; a few ahead keep a
# process busy between fast jobs, while a slow job delays at most this many others (the
# relay sends those again if they are still pending after its redispatch delay).
PREFETCH = 4
# Give up on a broker that does not answer within this many seconds (the relay keeps the
# jobs and tries again in its next round).
BROKER_TIMEOUT_S = 3.0


def broker_url(settings: Settings) -> str:
    if not settings.broker_url:
        raise ConfigurationError(
            "no broker configured: set LEMUR_BROKER_URL (e.g. redis://127.0.0.1:6379/0) for "
            "`lemur worker` and `lemur scheduler`, or run jobs in `lemur serve` without them",
            code="broker_not_configured",
            field="broker_url",
        )
    return settings.broker_url


def masked_url(url: str) -> str:
    """A broker URL as it may be printed: its password replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", url)


def masked_broker(settings: Settings) -> str:
    return masked_url(broker_url(settings))


def create_celery(settings: Settings) -> Celery:
    """The Celery application of this installation, with its one task."""
    app = Celery("lemur", broker=broker_url(settings), set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        # Acknowledge a message after the job ran, and not at all if the worker process
        # died: the broker then hands it out again (the database decides whether it runs).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=PREFETCH,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=BROKER_TIMEOUT_S,
        broker_transport_options={
            "socket_timeout": BROKER_TIMEOUT_S,
            "socket_connect_timeout": BROKER_TIMEOUT_S,
        },
        task_default_queue=settings.broker_queue,
        task_default_exchange=settings.broker_queue,
        task_default_routing_key=settings.broker_queue,
        # The relay handles an unreachable broker itself (keeps the jobs, tries again).
        task_publish_retry=False,
        # No remote control, events or results: nothing but "run jobs N, M, ..." goes through
        # the broker, and installations sharing one Redis do not hear each other.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone="UTC",
    )

    @app.task(name=TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_jobs(job_ids: list[int]) -> None:
        engine = process_engine(settings)
        wanted = [int(i) for i in job_ids]
        ran = set(engine.run_ids(wanted))
        early = too_early(engine, [i for i in wanted if i not in ran])
        if early:
            log.info(
                "jobs %s are not due by this worker's clock; the relay sends them again", early
            )

    return app


def too_early(engine: JobEngine, job_ids: list[int]) -> list[int]:
    """Of the jobs a message named that did not run, those pending but not due by this
    worker's clock (the relay's clock is ahead): marked not sent, so that the relay sends
    them again once due, instead of only after its redispatch delay. Jobs already taken or
    finished are left alone."""
    if not job_ids:
        return []
    jobs = JOBS
    with engine.db.write() as session:
        early = list(
            session.scalars(
                update(jobs)
                .where(
                    jobs.c.id.in_(job_ids),
                    jobs.c.state == JobState.PENDING.value,
                    jobs.c.run_after > engine.container.clock.now(),
                )
                .values(dispatched_at=None)
                .returning(jobs.c.id)
            )
        )
        session.commit()
    return early


_engines: dict[int, JobEngine] = {}
_engines_lock = threading.Lock()


def process_engine(settings: Settings) -> JobEngine:
    """The engine of this worker process, with its container built once (without
    initialising anything, as a ``lemur serve`` worker does). Keyed by process id: a
    prefork child builds its own instead of using a parent's database connections."""
    pid = os.getpid()
    engine = _engines.get(pid)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(pid)
        if engine is None:
            engine = build_engine(settings)
            _engines[pid] = engine
    return engine


def build_engine(settings: Settings) -> JobEngine:
    from lemur.container import build_container
    from lemur.jobs.test_hooks import with_test_kinds

    container = build_container(settings, init=False)
    container.job_kinds_override = with_test_kinds(container.job_kinds)
    return JobEngine(container, container.job_kinds)


def worker_argv(
    settings: Settings, *, concurrency: int, pool: str, loglevel: str, name: str | None = None
) -> list[str]:
    """Arguments for ``Celery.worker_main``: this installation's queue, and none of the
    cluster chatter (gossip, mingle, heartbeats) Lemur does not use."""
    argv: list[str] = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel.upper()}",
        f"--queues={settings.broker_queue}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if name:
        argv.append(f"--hostname={name}")
    return argv
