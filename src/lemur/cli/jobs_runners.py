"""lemur worker | scheduler: running jobs on Celery with Redis, for scale-out.

``lemur serve`` runs jobs itself by default. An installation that wants more job capacity
than its servers serves HTTP with ``lemur serve --no-jobs`` and runs any number of
``lemur worker`` (Celery workers that run the jobs the broker names) and at least one
``lemur scheduler`` (fires schedule ticks, returns jobs of dead workers, and relays due
jobs from the database to the broker). See docs/operations.md.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import signal
import socket
import sys
from types import FrameType

import typer
from rich.markup import escape

from lemur.cli.context import load_settings, local_container
from lemur.cli.output import err, out
from lemur.config import Settings
from lemur.db import is_sqlite

JSON = typer.Option(False, "--json", help="print the start-up line as JSON")


class Pool(enum.StrEnum):
    prefork = "prefork"
    threads = "threads"
    solo = "solo"


def _log_level(settings: Settings, given: str | None) -> str:
    level = (given or settings.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise typer.BadParameter(f"unknown log level {given!r}", param_hint="--loglevel")
    return level


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _started(what: str, data: dict[str, object], *, as_json: bool) -> None:
    if as_json:  # one line: the process goes on logging after it
        sys.stdout.write(json.dumps({"command": what, **data}) + "\n")
    else:
        parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in data.items())
        out.print(f"lemur {what}: {escape(parts)}", highlight=False)
    out.file.flush()


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        concurrency: int = typer.Option(
            0, min=0, max=256, help="processes (or threads) running jobs; 0: one per core"
        ),
        pool: Pool = typer.Option(
            Pool.prefork, help="prefork (processes, default), threads, or solo (one job at a time)"
        ),
        loglevel: str | None = typer.Option(None, help="log level (default LEMUR_LOG_LEVEL)"),
        as_json: bool = JSON,
    ) -> None:
        """Run a Celery worker for this installation's jobs (needs LEMUR_BROKER_URL).

        Jobs come from `lemur scheduler`, which relays due jobs from the database to the
        broker. SIGTERM stops it after the jobs it is running (warm shutdown)."""
        from lemur.jobs.celery_app import broker_url, create_celery, masked_broker, worker_argv
        from lemur.jobs.test_hooks import with_test_kinds

        settings = load_settings()
        broker_url(settings)
        level = _log_level(settings, loglevel)
        processes = 1 if pool is Pool.solo else (concurrency or os.cpu_count() or 1)
        # Check the database and the keys now (and fail with a clear message), then let
        # each worker process open its own connections when it runs its first job.
        with local_container() as container:
            kinds = sorted(with_test_kinds(container.job_kinds))
            database = str(container.settings.masked()["database_url"])
        _started(
            "worker",
            {
                "broker": masked_broker(settings),
                "queue": settings.broker_queue,
                "database": database,
                "pool": pool.value,
                "concurrency": processes,
                "kinds": ",".join(kinds),
            },
            as_json=as_json,
        )
        if is_sqlite(settings.effective_database_url) and processes > 1:
            err.print(
                "[yellow]note[/]: several worker processes on one SQLite file take turns "
                "writing; scale-out is meant for PostgreSQL (see docs/operations.md)"
            )
        name = f"lemur-{os.getpid()}@{socket.gethostname()}"
        app = create_celery(settings)
        app.worker_main(
            worker_argv(settings, concurrency=processes, pool=pool.value, loglevel=level, name=name)
        )

    @app.command()
    def scheduler(
        poll: float | None = typer.Option(
            None,
            min=0.05,
            max=60,
            help="seconds between relay rounds when idle (default LEMUR_JOB_POLL_SECONDS)",
        ),
        tick_seconds: float = typer.Option(
            5.0, min=0.05, max=60, help="seconds between checks for due schedule ticks"
        ),
        reap_seconds: float = typer.Option(
            15.0, min=0.05, max=3600, help="seconds between checks for jobs of dead workers"
        ),
        loglevel: str | None = typer.Option(None, help="log level (default LEMUR_LOG_LEVEL)"),
        as_json: bool = JSON,
    ) -> None:
        """Fire the schedule, return jobs of dead workers, and relay due jobs to the broker.

        Any number may run: each tick fires once (the database decides), and two relays
        never send the same job. SIGTERM stops it after the current round."""
        from lemur.jobs.celery_app import broker_url, create_celery, masked_broker
        from lemur.jobs.relay import SchedulerLoop
        from lemur.jobs.schedule import build_schedule, runnable_schedule
        from lemur.jobs.test_hooks import with_test_kinds, with_test_schedule

        settings = load_settings()
        broker_url(settings)
        _setup_logging(_log_level(settings, loglevel))
        with local_container() as container:
            kinds = with_test_kinds(container.job_kinds)
            container.job_kinds_override = kinds
            entries = runnable_schedule(
                with_test_schedule(build_schedule(settings.schedule)), kinds
            )
            loop = SchedulerLoop(
                container,
                create_celery(settings),
                kinds,
                entries,
                poll_interval=poll or settings.job_poll_seconds,
                tick_interval=tick_seconds,
                reap_interval=reap_seconds,
            )

            def stop(signum: int, _frame: FrameType | None) -> None:
                loop.stop()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            _started(
                "scheduler",
                {
                    "broker": masked_broker(settings),
                    "queue": settings.broker_queue,
                    "database": str(settings.masked()["database_url"]),
                    "schedule": ",".join(f"{e.name}={e.spec}" for e in entries) or "(none)",
                },
                as_json=as_json,
            )
            loop.run()
        if not as_json:
            out.print("lemur scheduler: stopped")
