"""`lemur jobs ...` against a real `lemur serve` (with its embedded runner), as an operator
runs it: tables for people, --json for scripts, exit codes for both."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from lemur.clock import SystemClock
from lemur.db import Database
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.outbox import enqueue
from tests.cli.test_cert_cli import CONFLICT, DENIED, INVALID, NOT_FOUND, OK, USAGE, admin_cli
from tests.peers.server import RunningServer, clean_env, lemur_command, start_server

KIND = "test.cli"  # no runner knows it: its jobs stay as the test leaves them
LONG_ERROR = "ConnectionError: " + " ".join(f"word{n}" for n in range(80))


class Served:
    def __init__(self, server: RunningServer, tokens: dict[str, str], work: Path) -> None:
        self.server = server
        self.tokens = tokens
        self.work = work
        self.db = Database.connect(f"sqlite:///{server.data_dir / 'lemur.db'}")

    def run(self, *args: str, scope: str = "write") -> subprocess.CompletedProcess[str]:
        token = self.tokens[scope]
        done = subprocess.run(
            [*lemur_command(), "jobs", *args],
            env=clean_env(
                self.work / "client-data",
                {"LEMUR_URL": self.server.base_url, "LEMUR_TOKEN": token},
            ),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert token not in done.stdout + done.stderr
        return done

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == OK, done.stdout + done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def job(self, state: JobState = JobState.PENDING, **values: Any) -> int:
        with self.db.write() as session:
            job_id = enqueue(session, KIND, {"certificate_id": 7}, now=SystemClock().now())
            session.execute(
                update(JOBS).where(JOBS.c.id == job_id).values(state=state.value, **values)
            )
            session.commit()
        assert job_id is not None
        return job_id


def _served(work: Path, env: dict[str, str] | None = None) -> tuple[RunningServer, dict[str, str]]:
    data_dir = work / "data"
    data_dir.mkdir()
    server = start_server(data_dir, env=env)
    tokens = {}
    for scope in ("write", "read"):
        created = admin_cli(
            data_dir, "token", "create", "--user", "admin", "--name", scope, "--scope", scope,
            "--json",
        )  # fmt: skip
        tokens[scope] = json.loads(created)["token"]
    return server, tokens


@pytest.fixture(scope="module")
def lemur(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("jobs-cli")
    server, tokens = _served(work)
    served = Served(server, tokens, work)
    try:
        yield served
    finally:
        served.db.dispose()
        server.stop()


def test_list_is_a_readable_table_and_json(lemur: Served) -> None:
    failed = lemur.job(JobState.FAILED, attempts=5, last_error=LONG_ERROR)
    pending = lemur.job()
    text = lemur.ok("list", "--kind", KIND)
    assert "run after / finished (UTC)" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()[:1].isdigit()}
    assert "failed" in lines[str(failed)]
    assert "5/5" in lines[str(failed)]
    assert "ConnectionError: word0" in lines[str(failed)]
    assert "word79" not in text  # the table shows the start; `show` all of it
    assert "pending" in lines[str(pending)]
    assert "0/5" in lines[str(pending)]

    body = lemur.json("list", "--kind", KIND, "--state", "failed")
    assert body["items"][0]["id"] == failed
    assert {j["state"] for j in body["items"]} == {"failed"}
    assert body["items"][0]["args"] == {"certificate_id": 7}

    shown = lemur.ok("show", str(failed))
    assert "word79" in " ".join(shown.split())
    assert lemur.json("show", str(failed))["last_error"] == LONG_ERROR


def test_list_pages_with_a_cursor(lemur: Served) -> None:
    made = [lemur.job() for _ in range(3)]
    first = lemur.json("list", "--kind", KIND, "--limit", "2")
    assert [j["id"] for j in first["items"]] == [made[2], made[1]]
    assert first["next_cursor"]
    second = lemur.json("list", "--kind", KIND, "--limit", "2", "--cursor", first["next_cursor"])
    assert second["items"][0]["id"] == made[0]
    assert f"more: --cursor {first['next_cursor']}" in lemur.ok(
        "list", "--kind", KIND, "--limit", "2"
    )


def test_bad_filters_exit_with_the_apis_answer(lemur: Served) -> None:
    done = lemur.run("list", "--kind", "   ", "--json")
    assert done.returncode == INVALID
    assert json.loads(done.stdout)["error"]["code"] == "empty_filter"
    assert lemur.run("list", "--state", "done").returncode == USAGE
    done = lemur.run("show", "999999", "--json")
    assert done.returncode == NOT_FOUND
    assert json.loads(done.stdout)["error"]["code"] == "job_not_found"


def test_retry_and_cancel_with_the_statuses_a_user_sees(lemur: Served) -> None:
    failed = lemur.job(JobState.FAILED, attempts=5, last_error="boom")
    assert "pending again" in lemur.ok("retry", str(failed))
    again = lemur.json("show", str(failed))
    assert (again["state"], again["attempts"], again["last_error"]) == ("pending", 0, "boom")

    done = lemur.run("retry", str(failed), "--json")
    assert done.returncode == CONFLICT
    assert json.loads(done.stdout)["error"]["code"] == "job_not_retryable"
    done = lemur.run("retry", str(failed))
    assert "job_not_retryable" in done.stderr
    assert "pending" in done.stderr

    assert lemur.json("cancel", str(failed))["state"] == "cancelled"
    done = lemur.run("cancel", str(failed), "--json")
    assert done.returncode == CONFLICT
    assert json.loads(done.stdout)["error"]["code"] == "job_not_cancellable"
    assert lemur.json("retry", str(failed))["state"] == "pending"

    done = lemur.run("retry", str(failed), "--json", scope="read")
    assert done.returncode == DENIED
    assert json.loads(done.stdout)["error"]["code"] == "token_scope_insufficient"


def test_ping_says_a_runner_is_alive(lemur: Served) -> None:
    answer = lemur.json("ping", "--wait", "30")
    assert answer["alive"] is True
    assert answer["job"]["kind"] == "noop"
    assert answer["job"]["state"] == "succeeded"
    assert "a runner is alive" in lemur.ok("ping", "--wait", "30")


def test_the_scheduled_maintenance_jobs_run_in_a_served_lemur(lemur: Served) -> None:
    kinds = lemur.json("kinds")
    names = {k["name"] for k in kinds["kinds"]}
    assert {"maintenance.cleanup", "authorities.crl_refresh", "audit.verify_chain"} <= names
    assert {s["name"]: s["spec"] for s in kinds["schedule"]}["audit-verify"] == "daily@03:00"
    deadline = time.monotonic() + 30
    while True:
        states = {
            kind: [j["state"] for j in lemur.json("list", "--kind", kind)["items"]]
            for kind in ("maintenance.cleanup", "authorities.crl_refresh", "audit.verify_chain")
        }
        if all(s == ["succeeded"] for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert all(s == ["succeeded"] for s in states.values()), states


def test_ping_without_a_runner_fails_and_cancels_its_job(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("jobs-cli-no-runner")
    server, tokens = _served(work, {"LEMUR_RUN_JOBS": "false"})
    served = Served(server, tokens, work)
    try:
        done = served.run("ping", "--wait", "1", "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        answer = json.loads(done.stdout)
        assert answer["alive"] is False
        assert answer["job"]["state"] == "cancelled"
        done = served.run("ping", "--wait", "1")
        assert done.returncode == 1
        assert "no runner ran ping job" in done.stderr
        queued = served.ok("ping", "--wait", "0")
        assert "enqueued" in queued
    finally:
        served.db.dispose()
        server.stop()
