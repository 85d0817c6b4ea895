"""/api/v1/jobs: what the runners do, for operators (staff): list, read, retry, cancel,
ping, and the installed kinds with the schedule."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from lemur.authz import Action
from lemur.ids import PathId
from lemur.jobs.models import JobState
from lemur.jobs.schemas import JobKindOut, JobKindsOut, JobOut, JobPageOut, ScheduleEntryOut
from lemur.jobs.service import JobFilter
from lemur.services import Services
from lemur.text import Line
from lemur.web.api import search_text, services_for
from lemur.web.openapi import errors

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
JobId = PathId


READ = Depends(services_for(Action.JOB_READ))
MANAGE = Depends(services_for(Action.JOB_MANAGE))


@router.get("", response_model=JobPageOut)
def list_jobs(
    state: JobState | None = Query(None),
    kind: Line | None = Query(None, max_length=64, description="exact, e.g. renewal.renew"),
    limit: int = Query(50, ge=1, le=500),
    cursor: Line | None = Query(None, max_length=20),
    services: Services = READ,
) -> JobPageOut:
    """Jobs, newest first."""
    flt = JobFilter(state=state, kind=search_text(kind, field="kind"))
    page = services.jobs().page(flt, limit=limit, cursor=cursor)
    return JobPageOut(items=[JobOut.of(j) for j in page.items], next_cursor=page.next_cursor)


@router.get("/kinds", response_model=JobKindsOut)
def job_kinds(services: Services = READ) -> JobKindsOut:
    """The job kinds this installation runs, and the schedule with each entry's next tick."""
    service = services.jobs()
    return JobKindsOut(
        kinds=[JobKindOut.of(k) for k in service.kinds()],
        schedule=[ScheduleEntryOut.of(s) for s in service.schedule()],
    )


@router.post("/ping", response_model=JobOut, status_code=202)
def ping(services: Services = MANAGE) -> JobOut:
    """Enqueue a `noop` job; when it has succeeded (GET /api/v1/jobs/{id}), a runner is
    alive. Answers at once, before any runner has taken it."""
    return JobOut.of(services.jobs().ping())


@router.get("/{job_id}", response_model=JobOut, responses=errors(404))
def get_job(job_id: JobId, services: Services = READ) -> JobOut:
    return JobOut.of(services.jobs().get(job_id))


@router.post("/{job_id}/retry", response_model=JobOut, responses=errors(404, 409))
def retry_job(job_id: JobId, services: Services = MANAGE) -> JobOut:
    """A failed or cancelled job runs again: pending now, its attempts counted afresh; its
    last error stays until it runs. 409 `job_not_retryable` in any other state."""
    return JobOut.of(services.jobs().retry(job_id))


@router.post("/{job_id}/cancel", response_model=JobOut, responses=errors(404, 409))
def cancel_job(job_id: JobId, services: Services = MANAGE) -> JobOut:
    """A pending job will not run. 409 `job_not_cancellable` in any other state (a running
    job cannot be stopped)."""
    return JobOut.of(services.jobs().cancel(job_id))
