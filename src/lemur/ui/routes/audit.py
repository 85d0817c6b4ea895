"""The audit log (admin and security): filters, cursor pagination, and at the top whether
the hash chain verifies.

The filters are the API's (GET /api/v1/audit-events) with its bounds; a field left empty
does not filter. Times without a zone are UTC, as the page says.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.audit.chain import VerifyResult, current_head, verify_chain
from lemur.audit.service import AuditFilter, AuditRecord, list_events
from lemur.authz import Action, authorize
from lemur.errors import LemurError
from lemur.jobs.maintenance import ChainCheck, last_chain_check
from lemur.text import require_line
from lemur.ui.pages import FormErrors, SignedIn

router = APIRouter()
PAGE_SIZE = 50
# Up to this many events the page verifies the whole chain itself (well under a second).
LIVE_VERIFY_LIMIT = 10_000
OUTCOMES = ("success", "failure", "partial", "denied")
# The API's bounds for each text filter (lemur.audit.api).
TEXT_FILTERS = {"actor": 100, "action": 64, "target_type": 32, "target_id": 100}
# Where an event's target is shown, by target type.
TARGET_PAGES = {
    "user": "/users/{}",
    "team": "/teams/{}",
    "certificate": "/certificates/{}",
    "authority": "/authorities/{}",
    "job": "/jobs/{}",
    "channel": "/notifications/channels/{}",
    "rule": "/notifications/rules/{}",
}


@dataclass(frozen=True)
class Row:
    event: AuditRecord
    details: list[tuple[str, str]]
    link: str | None


def _time(value: str, name: str, errors: FormErrors) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        errors[name] = "Enter a date and time, e.g. 2026-01-31T08:00 (UTC)."
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_filter(params: Mapping[str, str]) -> tuple[AuditFilter, FormErrors]:
    """The filter the query string asks for, and its errors per field."""
    errors = FormErrors()
    text: dict[str, str | None] = {}
    for name, limit in TEXT_FILTERS.items():
        value = params.get(name, "").strip()
        if len(value) > limit:
            errors[name] = f"Use at most {limit} characters."
            value = ""
        try:
            require_line(value, field=name)
        except LemurError as exc:
            errors[name] = exc.message[:1].upper() + exc.message[1:] + "."
            value = ""
        text[name] = value or None
    outcome = params.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        errors["outcome"] = f"Choose one of: {', '.join(OUTCOMES)}."
        outcome = None
    since = _time(params["since"], "since", errors) if params.get("since") else None
    until = _time(params["until"], "until", errors) if params.get("until") else None
    if since and until and until <= since:
        errors["until"] = "The end must be after the start."
    return (
        AuditFilter(
            actor=text["actor"],
            action=text["action"],
            target_type=text["target_type"],
            target_id=text["target_id"],
            outcome=outcome,
            since=since,
            until=until,
        ),
        errors,
    )


def _row(event: AuditRecord) -> Row:
    try:
        details: Any = json.loads(event.details)
    except ValueError:
        details = {}
    shown = [
        (str(k), ", ".join(map(str, v)) if isinstance(v, list) else str(v))
        for k, v in (details.items() if isinstance(details, dict) else ())
    ]
    page = TARGET_PAGES.get(event.target_type or "")
    link = page.format(event.target_id) if page and (event.target_id or "").isdigit() else None
    return Row(event, shown, link)


@router.get("/audit", response_class=HTMLResponse)
def audit(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.AUDIT_READ)
    params = dict(visit.request.query_params)
    flt, errors = parse_filter(params)
    cursor = params.get("cursor") or None
    chain: VerifyResult | None = None
    check: ChainCheck | None = None
    head_seq = 0
    rows: list[Row] = []
    next_cursor = None
    with visit.services() as services:
        session = services.uow.read
        # Shown on the first page, not again while paging through the log. Walking the
        # chain costs about 0.1 ms per event: done here while the log is small or when
        # asked; otherwise the daily check's result (docs/decisions/0020).
        if cursor is None:
            head = current_head(session)
            head_seq = head[0] if head else 0
            if head is None or head_seq <= LIVE_VERIFY_LIMIT or params.get("verify") == "now":
                chain = verify_chain(session)
            else:
                check = last_chain_check(session)
        if not errors:
            try:
                page = list_events(session, flt, limit=PAGE_SIZE, cursor=cursor)
            except LemurError as exc:
                errors = FormErrors.of_error(exc)
            else:
                rows = [_row(e) for e in page.events]
                next_cursor = page.next_cursor
    return visit.render(
        "audit/list.html",
        status=422 if errors else 200,
        rows=rows,
        chain=chain,
        check=check,
        head_seq=head_seq,
        next_cursor=next_cursor,
        params={k: v for k, v in params.items() if v and k != "verify"},
        outcomes=[(o, o) for o in OUTCOMES],
        filtered=any(params.get(k) for k in (*TEXT_FILTERS, "outcome", "since", "until")),
        errors=errors,
        values=params,
    )
