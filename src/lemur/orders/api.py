"""/api/v1/requests: requests waiting at a CA that answers later (ACME, AWS Private CA):
list, read, cancel. A request for a certificate answers 202 with one of these when the CA
does not issue at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from lemur.authz import Action
from lemur.container import Container
from lemur.ids import PathId
from lemur.orders.models import AcmeChallenge, RequestState
from lemur.orders.responder import TOKEN
from lemur.orders.schemas import RequestOut, RequestPageOut
from lemur.services import Services
from lemur.text import Line
from lemur.web.api import get_container, services_for
from lemur.web.openapi import errors

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])
# ACME HTTP-01 (RFC 8555 §8.3): the answers the acme issuer published (lemur.orders.responder).
challenges = APIRouter(include_in_schema=False)

READ = Depends(services_for(Action.CERTIFICATE_READ))
ISSUE = Depends(services_for(Action.CERTIFICATE_ISSUE))


@router.get("", response_model=RequestPageOut)
def list_requests(
    state: RequestState | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
    cursor: Line | None = Query(None, max_length=20),
    services: Services = READ,
) -> RequestPageOut:
    """Requests the caller may see (their teams'; staff see all), newest first."""
    page = services.requests().page(state=state, limit=limit, cursor=cursor)
    return RequestPageOut(
        items=[RequestOut.of(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{request_id}", response_model=RequestOut, responses=errors(404))
def get_request(request_id: PathId, services: Services = READ) -> RequestOut:
    """The request: state, the CA's reference and what it is doing, polls, the last error,
    and the certificate once issued."""
    return RequestOut.of(services.requests().get(request_id))


@router.post("/{request_id}/cancel", response_model=RequestOut, responses=errors(404, 409))
def cancel_request(request_id: PathId, services: Services = ISSUE) -> RequestOut:
    """Stop waiting: the order is given up at the CA where it can be, and the request is
    cancelled (409 request_finished when it is no longer pending)."""
    services.requests().get(request_id)  # 404 for a request the caller may not see
    return RequestOut.of(services.pending().cancel(request_id))


@challenges.get("/.well-known/acme-challenge/{token}")
def acme_challenge(token: str, container: Container = Depends(get_container)) -> Response:
    """The key authorization for ``token`` as text, or 404 when none is published."""
    content = None
    if TOKEN.match(token):
        with container.db.read() as session:
            content = session.scalar(
                select(AcmeChallenge.content).where(AcmeChallenge.token == token)
            )
    if content is None:
        return Response("no such challenge\n", status_code=404, media_type="text/plain")
    return Response(content, media_type="text/plain", headers={"Cache-Control": "no-store"})
