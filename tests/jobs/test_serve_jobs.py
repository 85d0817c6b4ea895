"""``lemur serve`` runs jobs by default; ``lemur serve --no-jobs`` runs none (real servers)."""

from __future__ import annotations

import time
from pathlib import Path

from lemur.config import Settings
from lemur.container import build_container
from lemur.jobs.models import Job, JobState
from lemur.jobs.outbox import enqueue
from tests.peers.server import start_server


def _enqueue(data_dir: Path) -> int:
    container = build_container(Settings(data_dir=data_dir), init=False)
    try:
        with container.db.write() as session:
            job_id = enqueue(session, "noop", {}, now=container.clock.now())
            session.commit()
        assert job_id is not None
        return job_id
    finally:
        container.close()


def _job(data_dir: Path, job_id: int) -> tuple[str, int]:
    container = build_container(Settings(data_dir=data_dir), init=False)
    try:
        with container.db.read() as session:
            job = session.get(Job, job_id)
            assert job is not None
            return job.state, job.attempts
    finally:
        container.close()


def test_serve_no_jobs_leaves_jobs_pending_and_serve_runs_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    http_only = start_server(data_dir, args=["--no-jobs"])
    try:
        job_id = _enqueue(data_dir)
        # An embedded runner polls every second (LEMUR_JOB_POLL_SECONDS): three polls.
        time.sleep(3)
        assert _job(data_dir, job_id) == (JobState.PENDING, 0)
    finally:
        http_only.stop()
    server = start_server(data_dir)
    try:
        deadline = time.monotonic() + 20
        while _job(data_dir, job_id)[0] != JobState.SUCCEEDED:
            assert time.monotonic() < deadline, server.output
            time.sleep(0.1)
        assert _job(data_dir, job_id) == (JobState.SUCCEEDED, 1)
    finally:
        server.stop()
