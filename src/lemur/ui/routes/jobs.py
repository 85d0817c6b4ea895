"""Jobs: the list (state and kind filters, newest first, a page at a time) and one job,
with Retry (a failed or cancelled job) and Cancel (a pending one) for those who manage
jobs; from the same service as /api/v1/jobs."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.jobs.models import JobState
from lemur.jobs.service import CANCELLABLE, RETRYABLE, JobFilter
from lemur.ui.pages import Posted, SignedIn

router = APIRouter()
PAGE_SIZE = 50


@router.get("/jobs", response_class=HTMLResponse)
def jobs(visit: SignedIn, state: str = "", kind: str = "", cursor: str = "") -> Response:
    # A state that is not one lists every state, as the select's "any" does.
    chosen = JobState(state) if state in set(JobState) else None
    params = {"state": chosen.value if chosen else "", "kind": kind.strip()[:64], "cursor": cursor}
    with visit.services() as services:
        service = services.jobs()
        page = service.page(
            JobFilter(state=chosen, kind=params["kind"] or None),
            limit=PAGE_SIZE,
            cursor=cursor[:20] or None,
        )
        kinds = [k.name for k in service.kinds()]
    if params["kind"] and params["kind"] not in kinds:
        kinds.append(params["kind"])  # a kind no runner here knows still shows as chosen
    return visit.render(
        "jobs/list.html",
        jobs=page.items,
        next_cursor=page.next_cursor,
        params=params,
        values=params,
        states=[(s.value, s.value) for s in JobState],
        kinds=[(k, k) for k in kinds],
    )


@router.get("/jobs/{job_id:int}", response_class=HTMLResponse)
def job(visit: SignedIn, job_id: int) -> Response:
    authorize(visit.principal, Action.JOB_READ)
    with visit.services() as services:
        found = services.jobs().get(job_id)
    manage = visit.may(Action.JOB_MANAGE)
    return visit.render(
        "jobs/detail.html",
        job=found,
        args=json.dumps(found.args, indent=2, sort_keys=True),
        may_retry=manage and found.state in RETRYABLE,
        may_cancel=manage and found.state in CANCELLABLE,
    )


@router.post("/jobs/{job_id:int}/retry", response_class=HTMLResponse)
def retry(visit: SignedIn, form: Posted, job_id: int) -> Response:
    def work() -> Response:
        with visit.services() as services:
            done = services.jobs().retry(job_id)
        return visit.redirect(
            f"/jobs/{done.id}", notice=f"Job {done.id} is pending again: a runner takes it soon."
        )

    return visit.once(form, work)


@router.post("/jobs/{job_id:int}/cancel", response_class=HTMLResponse)
def cancel(visit: SignedIn, form: Posted, job_id: int) -> Response:
    def work() -> Response:
        with visit.services() as services:
            done = services.jobs().cancel(job_id)
        return visit.redirect(f"/jobs/{done.id}", notice=f"Job {done.id} was cancelled.")

    return visit.once(form, work)
