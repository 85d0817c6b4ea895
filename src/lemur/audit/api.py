"""/api/v1/audit-events: list with filters and cursor pagination; verify the chain."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from lemur.audit.chain import verify_chain
from lemur.audit.schemas import AuditEventOut, AuditPageOut, VerifyOut
from lemur.audit.service import AuditFilter, list_events
from lemur.authz import Action, Principal
from lemur.errors import InvalidInput
from lemur.text import Line
from lemur.web.api import read_session, require, search_text

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])


def _aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            f"{field} needs a time zone, e.g. 2026-01-31T00:00:00Z",
            code="naive_datetime",
            field=field,
        )
    return value


@router.get("", response_model=AuditPageOut)
def list_audit_events(
    actor: Line | None = Query(None, max_length=100, description="e.g. user:alice or cli"),
    action: Line | None = Query(
        None, max_length=64, description="exact, or a prefix ending in '.' (user.)"
    ),
    target_type: Line | None = Query(None, max_length=32),
    target_id: Line | None = Query(None, max_length=100),
    outcome: Line | None = Query(None, pattern="^(success|failure|partial|denied)$"),
    since: dt.datetime | None = Query(None, description="inclusive, ISO 8601 with zone"),
    until: dt.datetime | None = Query(None, description="exclusive, ISO 8601 with zone"),
    limit: int = Query(50, ge=1, le=500),
    cursor: Line | None = Query(None, max_length=100),
    _principal: Principal = Depends(require(Action.AUDIT_READ)),
    session: Session = Depends(read_session),
) -> AuditPageOut:
    flt = AuditFilter(
        actor=search_text(actor, field="actor"),
        action=search_text(action, field="action"),
        target_type=search_text(target_type, field="target_type"),
        target_id=search_text(target_id, field="target_id"),
        outcome=outcome,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
    )
    page = list_events(session, flt, limit=limit, cursor=cursor)
    return AuditPageOut(
        items=[AuditEventOut.of(e) for e in page.events], next_cursor=page.next_cursor
    )


@router.get("/verification", response_model=VerifyOut)
def verify_audit_chain(
    _principal: Principal = Depends(require(Action.AUDIT_READ)),
    session: Session = Depends(read_session),
) -> VerifyOut:
    return VerifyOut.of(verify_chain(session))
