"""lemur jobs: list, show, retry and cancel the jobs the runners run, and ping the runners,
through the API of a running Lemur (LEMUR_URL, LEMUR_TOKEN of a staff user)."""

from __future__ import annotations

import json
import time

import typer
from rich.markup import escape
from rich.text import Text

from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import fields, utc
from lemur.cli.options import record_id
from lemur.cli.output import (
    EXIT_CHECK_FAILED,
    col,
    emit,
    emit_json,
    err,
    more,
    out,
    table,
    time_col,
    when,
)
from lemur.errors import Conflict
from lemur.jobs.models import FINISHED, JobState
from lemur.jobs.schemas import JobKindsOut, JobOut, JobPageOut

jobs = typer.Typer(
    help="Jobs the runners run: list, retry, cancel, ping (through the API: LEMUR_URL, "
    "LEMUR_TOKEN).",
    no_args_is_help=True,
)

API = "/api/v1/jobs"
# The table shows the start of a long error; `lemur jobs show ID` shows all of it.
ERROR_IN_TABLE = 160
MAX_WAIT = 600
POLL_SECONDS = 0.2
STATE_STYLE = {
    JobState.PENDING: "",
    JobState.RUNNING: "cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "dim",
}


def state_text(state: JobState) -> Text:
    return Text(state.value, style=STATE_STYLE[state])


def moment(job: JobOut) -> str:
    """When it finished, else when it may run (a pending job waiting for its backoff)."""
    if job.state in FINISHED and job.finished_at is not None:
        return when(job.finished_at)
    if job.state is JobState.RUNNING and job.started_at is not None:
        return when(job.started_at)
    return when(job.run_after)


def short_error(error: str | None) -> str:
    if not error:
        return ""
    line = " ".join(error.split())
    return line if len(line) <= ERROR_IN_TABLE else line[: ERROR_IN_TABLE - 1] + "…"


def print_jobs(items: list[JobOut]) -> None:
    table(
        "Jobs",
        [
            col("id", fixed=True, right=True),
            col("kind", min_width=min(24, max((len(j.kind) for j in items), default=4))),
            col("state", fixed=True),
            col("attempts", fixed=True, right=True),
            time_col("run after / finished (UTC)"),
            col("last error", min_width=20),
        ],
        [
            (
                j.id,
                j.kind,
                state_text(j.state),
                f"{j.attempts}/{j.max_attempts}",
                moment(j),
                short_error(j.last_error),
            )
            for j in items
        ],
        drop_empty=["last error"],
    )


def print_page(page: JobPageOut) -> None:
    print_jobs(page.items)
    more(page.next_cursor)


def print_job(job: JobOut) -> None:
    out.print(f"job [bold]{job.id}[/]: {escape(job.kind)}")
    fields(
        [
            ("state", job.state.value),
            ("attempts", f"{job.attempts} of {job.max_attempts}"),
            ("args", json.dumps(job.args, sort_keys=True) if job.args else None),
            ("key", job.key),
            ("created", utc(job.created_at)),
            ("run after", utc(job.run_after) if job.state not in FINISHED else None),
            ("started", utc(job.started_at)),
            ("finished", utc(job.finished_at)),
            ("lease until", utc(job.lease_until) if job.state is JobState.RUNNING else None),
            ("worker", job.worker),
            ("last error", job.last_error),
        ]
    )


@jobs.command("list")
def list_jobs(
    state: JobState | None = typer.Option(None, "--state", help="only jobs in this state"),
    kind: str | None = typer.Option(None, "--kind", help="only jobs of this kind, e.g. noop"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the previous page"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """List jobs, newest first."""
    with connect(url, token) as client:
        page = client.get(
            API,
            JobPageOut,
            state=state.value if state else None,
            kind=kind,
            limit=limit,
            cursor=cursor,
        )
    emit(page, as_json, print_page)


@jobs.command("show")
def show_job(
    job_id: int = record_id("job"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Show one job, with its whole last error."""
    with connect(url, token) as client:
        job = client.get(f"{API}/{job_id}", JobOut)
    emit(job, as_json, print_job)


@jobs.command("retry")
def retry_job(
    job_id: int = record_id("failed or cancelled job"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Run a failed or cancelled job again, with all its attempts (audited)."""
    with connect(url, token) as client:
        job = client.post(f"{API}/{job_id}/retry", None, JobOut)
    emit(
        job,
        as_json,
        note=f"job {job.id} ({escape(job.kind)}) is pending again: a runner takes it as soon "
        "as it is free",
    )


@jobs.command("cancel")
def cancel_job(
    job_id: int = record_id("pending job"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Cancel a pending job: it will not run (audited; `lemur jobs retry` undoes it)."""
    with connect(url, token) as client:
        job = client.post(f"{API}/{job_id}/cancel", None, JobOut)
    emit(job, as_json, note=f"job {job.id} ({escape(job.kind)}) cancelled")


def _wait_for(client: LemurClient, job: JobOut, seconds: float) -> JobOut:
    deadline = time.monotonic() + seconds
    while job.state not in FINISHED and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        job = client.get(f"{API}/{job.id}", JobOut)
    return job


@jobs.command("ping")
def ping(
    wait: float = typer.Option(
        10.0,
        "--wait",
        min=0,
        max=MAX_WAIT,
        help="seconds to wait for a runner to run it (0: only enqueue it)",
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Enqueue a no-op job and wait until it ran: tells whether a job runner is alive.
    Exits 1 if none ran it in time (the job is then cancelled)."""
    started = time.monotonic()
    with connect(url, token) as client:
        job = client.post(f"{API}/ping", None, JobOut)
        if wait:
            job = _wait_for(client, job, wait)
            if job.state is JobState.PENDING:
                try:  # a ping nobody answered should not run hours later
                    job = client.post(f"{API}/{job.id}/cancel", None, JobOut)
                except Conflict:
                    job = client.get(f"{API}/{job.id}", JobOut)
    seconds = round(time.monotonic() - started, 3)
    alive = job.state is JobState.SUCCEEDED
    if as_json:
        emit_json({"alive": alive, "seconds": seconds, "job": job.model_dump(mode="json")})
    elif not wait:
        out.print(f"ping job {job.id} enqueued; `lemur jobs show {job.id}` tells when it ran")
    elif alive:
        out.print(
            f"a runner is alive: ping job {job.id} ran on {job.worker} within {seconds:.1f} s"
        )
    else:
        err.print(
            f"[bold red]no runner ran ping job {job.id}[/] within {wait:g} s (it is now "
            f"{job.state.value}): is `lemur serve` running without --no-jobs, or a "
            "`lemur worker`?"
        )
    if wait and not alive:
        raise typer.Exit(EXIT_CHECK_FAILED)


@jobs.command("kinds")
def kinds(
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """The job kinds this server runs, and the schedule with each entry's next run."""
    with connect(url, token) as client:
        body = client.get(f"{API}/kinds", JobKindsOut)
    emit(body, as_json, print_kinds)


def print_kinds(body: JobKindsOut) -> None:
    table(
        "Job kinds",
        ["kind", "description", col("attempts", fixed=True, right=True)],
        [(k.name, k.description, k.max_attempts) for k in body.kinds],
    )
    out.print()
    table(
        "Schedule",
        [
            "entry",
            "kind",
            col("every", fixed=True),
            time_col("next (UTC)"),
            col("installed", fixed=True),
        ],
        [
            (s.name, s.kind, s.spec, when(s.next_tick), "yes" if s.installed else "no")
            for s in body.schedule
        ],
    )
