"""The inventory (/certificates: one search box, filters, sortable columns, cursor pages)
and a certificate's page (/certificates/{id}).

The inventory reads with the list API's own search (lemur.certificates.queries) through
the search box's rules (lemur.certificates.lookup): one page is the same few statements
whatever the inventory holds (the visit, the filter choices, the page and its names)."""

from __future__ import annotations

import string
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from lemur.authz import Action
from lemur.bounds import MAX_DAYS_AHEAD
from lemur.certificates.enums import Origin, SortKey, Status
from lemur.certificates.lookup import SearchKind, find
from lemur.certificates.queries import CertificateFilter, filter_choices, search
from lemur.certificates.schemas import CertificateOut
from lemur.errors import InvalidInput
from lemur.ids import MAX_ID, PathId
from lemur.text import Line
from lemur.ui.certificate_views import detail_page, title_of
from lemur.ui.pages import FORM, Form, FormErrors, FormInvalid, SignedIn, parse

router = APIRouter()

KEY_TYPES = (("RSA", "RSA"), ("EC", "EC (ECDSA)"), ("Ed25519", "Ed25519"))
STATUSES = (
    ("valid", "Valid"),
    ("expiring", "Expiring (due for renewal)"),
    ("expired", "Expired"),
    ("revoked", "Revoked"),
)
ORIGINS = (
    ("issued", "Issued here"),
    ("imported", "Imported"),
    ("discovered", "Discovered"),
)
KINDS = {
    SearchKind.NAME: "names",
    SearchKind.SERIAL: "serial numbers",
    SearchKind.FINGERPRINT: "fingerprints",
}
# A search error names the list API's parameter; on this page they are all the search box.
_QUERY_FIELDS = {"name": "q", "name_like": "q", "serial": "q", "fingerprint": "q"}


class InventoryQuery(BaseModel):
    """The inventory page's query string, with the list API's names and bounds."""

    model_config = ConfigDict(extra="ignore")

    q: Line | None = Field(None, max_length=255)
    by: SearchKind | None = None
    status: Status | None = None
    team_id: int | None = Field(None, ge=1, le=MAX_ID)
    authority_id: int | None = Field(None, ge=1, le=MAX_ID)
    expiring_within_days: int | None = Field(None, ge=0, le=MAX_DAYS_AHEAD)
    key_type: Literal["RSA", "EC", "Ed25519"] | None = None
    origin: Origin | None = None
    include_expired: bool = False
    include_superseded: bool = False
    sort: SortKey = SortKey.NOT_AFTER
    order: Literal["asc", "desc"] = "asc"
    cursor: Line | None = Field(None, max_length=512)
    limit: int = Field(50, ge=1, le=200)

    def certificate_filter(self) -> CertificateFilter:
        return CertificateFilter(
            team_id=self.team_id,
            authority_id=self.authority_id,
            status=self.status,
            expiring_within_days=self.expiring_within_days,
            key_type=self.key_type,
            origin=self.origin,
            include_expired=self.include_expired,
            include_superseded=self.include_superseded,
        )


@router.get("/certificates", response_class=HTMLResponse)
def inventory(visit: SignedIn) -> Response:
    params = {k: v for k, v in visit.request.query_params.items() if v.strip()}
    errors = FormErrors()
    query: InventoryQuery | None = None
    try:
        query = parse(InventoryQuery, Form({k: [v] for k, v in params.items()}))
    except FormInvalid as exc:
        errors = exc.errors
    items: list[CertificateOut] = []
    next_cursor = None
    kind = None
    now = visit.now
    with visit.services() as services:
        session = services.uow.read
        choices = filter_choices(session, visit.principal)
        if query is not None:
            flt = query.certificate_filter()
            descending = query.order == "desc"
            try:
                if query.q and query.q.strip():
                    found = find(
                        session,
                        visit.principal,
                        query.q,
                        flt,
                        kind=query.by,
                        now=now,
                        sort=query.sort,
                        descending=descending,
                        limit=query.limit,
                        cursor=query.cursor,
                    )
                    page, kind = found.page, found.kind
                else:
                    page = search(
                        session,
                        visit.principal,
                        flt,
                        now=now,
                        sort=query.sort,
                        descending=descending,
                        limit=query.limit,
                        cursor=query.cursor,
                    )
            except InvalidInput as exc:
                errors = FormErrors({_QUERY_FIELDS.get(exc.field or "", FORM): exc.message})
            else:
                items = [CertificateOut.of(c, now=now) for c in page.items]
                next_cursor = page.next_cursor
    other_kind = None
    if query is not None and query.q and kind is not None:
        if kind is not SearchKind.NAME:
            other_kind = SearchKind.NAME
        elif set(query.q.strip().lower()) <= set(string.hexdigits.lower() + ": "):
            # Hex digits typed too short to read as a serial: offer that reading.
            other_kind = SearchKind.SERIAL
    return visit.render(
        "certificates/list.html",
        status=422 if errors else 200,
        items=items,
        next_cursor=next_cursor,
        params=params,
        values=params,
        errors=errors,
        kind=kind,
        kinds=KINDS,
        other_kind=other_kind,
        teams=choices.teams,
        authorities=choices.authorities,
        statuses=STATUSES,
        key_types=KEY_TYPES,
        origins=ORIGINS,
        now=now,
        title_of=title_of,
        may_issue=visit.may(Action.CERTIFICATE_ISSUE),
        may_import=visit.may(Action.CERTIFICATE_IMPORT),
    )


@router.get("/certificates/{certificate_id:int}", response_class=HTMLResponse)
def certificate(visit: SignedIn, certificate_id: PathId) -> Response:
    return detail_page(visit, certificate_id)
