"""Pending requests: certificates asked of a CA that answers later (ACME, AWS Private CA).
The list (state filter, newest first, a page at a time) and one request (what the CA is
doing, the CA's reason when it failed, the certificate once issued), with Cancel; from the
same services as /api/v1/requests."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.orders.models import RequestState
from lemur.ui.pages import Posted, QueryLine, SignedIn

router = APIRouter()
PAGE_SIZE = 50


@router.get("/requests", response_class=HTMLResponse)
def requests(visit: SignedIn, state: QueryLine = "", cursor: QueryLine = "") -> Response:
    authorize(visit.principal, Action.CERTIFICATE_READ)
    chosen = RequestState(state) if state in set(RequestState) else None
    params = {"state": chosen.value if chosen else "", "cursor": cursor}
    with visit.services() as services:
        page = services.requests().page(state=chosen, limit=PAGE_SIZE, cursor=cursor[:20] or None)
    return visit.render(
        "requests/list.html",
        requests=page.items,
        next_cursor=page.next_cursor,
        params=params,
        values=params,
        states=[(s.value, s.value) for s in RequestState],
    )


@router.get("/requests/{request_id:int}", response_class=HTMLResponse)
def request_page(visit: SignedIn, request_id: int) -> Response:
    with visit.services() as services:
        found = services.requests().get(request_id)
    return visit.render(
        "requests/detail.html",
        req=found,  # not `request`: that is the page's own HTTP request
        may_cancel=found.state is RequestState.PENDING
        and visit.may(Action.CERTIFICATE_ISSUE, team_id=found.team_id),
    )


@router.post("/requests/{request_id:int}/cancel", response_class=HTMLResponse)
def cancel(visit: SignedIn, form: Posted, request_id: int) -> Response:
    def work() -> Response:
        with visit.services() as services:
            services.requests().get(request_id)  # 404 for a request the user may not see
            done = services.pending().cancel(request_id)
        return visit.redirect(f"/requests/{done.id}", notice=f"Request {done.id} was cancelled.")

    return visit.once(form, work)
