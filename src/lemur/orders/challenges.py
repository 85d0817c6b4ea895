"""``GET /.well-known/acme-challenge/{token}``: the HTTP-01 answers of lemur.orders.responder."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from lemur.container import Container
from lemur.orders.models import AcmeChallenge
from lemur.orders.responder import TOKEN
from lemur.web.api import get_container

router = APIRouter(include_in_schema=False)


@router.get("/.well-known/acme-challenge/{token}")
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
