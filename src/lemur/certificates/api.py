"""/api/v1/certificates: request, import, search, detail, edit, archive, export, revoke,
renew.

Handlers parse, build their service from the factory, call it, and render. Errors of the
crypto layer and the issuer name their own parameters (``public_key``, ``not_after``, a
name the CA may not certify); they are mapped to this API's request fields here, once.
"""

from __future__ import annotations

import string
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from lemur.authz import Action, Principal
from lemur.bounds import MAX_DAYS_AHEAD
from lemur.certificates.enums import Origin, SortKey, Status
from lemur.certificates.fields import issue_error
from lemur.certificates.imports import ImportedCertificate
from lemur.certificates.name_check_schemas import NameCheckOut, NameCheckRequest
from lemur.certificates.queries import CertificateFilter, search
from lemur.certificates.schemas import (
    CertificateDetailOut,
    CertificateImport,
    CertificateOut,
    CertificatePageOut,
    CertificateRequest,
    CertificateUpdate,
    ExportRequest,
    RenewRequest,
    RevocationOut,
    RevokeRequest,
    material,
)
from lemur.certificates.service import CertificateView
from lemur.container import Container
from lemur.crypto.name_constraints import NameNotPermitted
from lemur.errors import InvalidInput
from lemur.ids import MAX_ID, PathId
from lemur.orders.records import RequestRecord
from lemur.orders.schemas import RequestOut
from lemur.plugins.values import Exported
from lemur.services import Services
from lemur.text import Line
from lemur.web.api import get_container, read_session, require, search_text, services_for
from lemur.web.openapi import Responses, errors, exported

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])
CertificateId = PathId
EDIT = Depends(services_for(Action.CERTIFICATE_UPDATE))
ARCHIVE = Depends(services_for(Action.CERTIFICATE_ARCHIVE))
E404_409 = errors(404, 409)


def _renew_error(exc: InvalidInput, body: RenewRequest) -> InvalidInput:
    """A renewal asks for its validity and, optionally, a CSR for the key: names, subject
    and usages are the certificate's own."""
    field = exc.field or ""
    if (field == "public_key" or field.startswith("key_usage")) and body.csr is not None:
        return InvalidInput(exc.message, code=exc.code, field="csr")
    if field.startswith(("subject.", "key_usage", "extended_key_usage")):
        return InvalidInput(exc.message, code=exc.code, field="certificate_id")
    if isinstance(exc, NameNotPermitted) or exc.field in ("public_key", "subject_cn"):
        return InvalidInput(exc.message, code=exc.code, field="certificate_id")
    if exc.field in ("not_before", "not_after"):
        return InvalidInput(exc.message, code=exc.code, field="validity_days")
    return exc


def _services(container: Container, principal: Principal, session: Session) -> Services:
    return Services(container, principal, read=session)


def _detail(view: CertificateView, container: Container) -> CertificateDetailOut:
    return CertificateDetailOut.render(view, now=container.clock.now())


def _created(result: CertificateView | RequestRecord, container: Container) -> Response:
    """201 with the detail serialised here (FastAPI would validate the model again first),
    or 202 with the pending request when the CA answers later."""
    if isinstance(result, RequestRecord):
        out = RequestOut.of(result)
        return Response(
            out.model_dump_json(),
            status_code=202,
            media_type="application/json",
            headers={"Location": out.location},
        )
    detail = _detail(result, container)
    return Response(detail.model_dump_json(), status_code=201, media_type="application/json")


# A CA that answers later: the request to poll (GET /api/v1/requests/{id}).
PENDING: Responses = {
    202: {
        "model": RequestOut,
        "description": "Accepted: the CA answers later. Poll the request at `Location` "
        "(GET /api/v1/requests/{id}) until its state is issued or failed.",
    }
}


def _is_fingerprint(value: str) -> bool:
    digits = value.strip().replace(":", "")
    return len(digits) in (40, 64) and all(c in string.hexdigits for c in digits)


def _file(exported: Exported) -> Response:
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "",
    response_model=CertificateDetailOut,
    status_code=201,
    responses={**PENDING, **errors(404, 409, 502, 503)},
)
async def request_certificate(
    body: CertificateRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_ISSUE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    """Runs on the event loop, not in the thread pool (docs/decisions/0007): an issuance
    with an EC key is a few milliseconds of CPU and two short transactions. RSA key
    generation, which takes tens of milliseconds and more, and a CA reached over the network
    (ACME, CFSSL, AWS Private CA) are handed to a thread."""
    services = _services(container, principal, session)
    service = services.issuance()
    request = body.to_new_certificate()
    remote = services.authority_gateway.is_remote(
        session, request.authority_id, container.remote_authorities
    )
    try:
        if remote or (request.csr is None and request.key_spec.slow_to_generate):
            issued = await anyio.to_thread.run_sync(service.issue, request)
        else:
            issued = service.issue(request)
    except InvalidInput as exc:
        raise issue_error(exc, body) from exc
    # Rendered from what was written, without reading it back.
    return _created(issued, container)


@router.post("/name-check", response_model=NameCheckOut, responses=errors(404))
def check_names(
    body: NameCheckRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_ISSUE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> NameCheckOut:
    """What each name means and whether it can be issued, as the request form checks it
    while you type; with the authority's limits (validity, key types, usages)."""
    service = _services(container, principal, session).name_check()
    return NameCheckOut.of(
        service.check(
            body.names,
            team_id=body.team_id,
            authority_id=body.authority_id,
            profile=body.profile,
        )
    )


@router.post(
    "/import", response_model=CertificateDetailOut, status_code=201, responses=errors(404, 409)
)
def import_certificate(
    body: CertificateImport,
    principal: Principal = Depends(require(Action.CERTIFICATE_IMPORT)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> CertificateDetailOut:
    imported = (
        _services(container, principal, session)
        .imports()
        .import_(
            ImportedCertificate(
                team_id=body.team_id,
                certificate=material(body.certificate, field="certificate") or b"",
                chain=material(body.chain, field="chain"),
                private_key=material(body.private_key, field="private_key"),
                passphrase=body.passphrase.get_secret_value().encode() if body.passphrase else None,
            )
        )
    )
    return _detail(imported, container)


@router.get("", response_model=CertificatePageOut)
def list_certificates(
    name: Line | None = Query(
        None, max_length=255, description="exact name; finds covering wildcards too"
    ),
    name_contains: Line | None = Query(None, min_length=1, max_length=255),
    team_id: int | None = Query(None, ge=1, le=MAX_ID),
    authority_id: int | None = Query(None, ge=1, le=MAX_ID),
    issuer: Line | None = Query(None, max_length=255, description="issuer common name, substring"),
    status: Status | None = Query(None),
    expiring_within_days: int | None = Query(None, ge=0, le=MAX_DAYS_AHEAD),
    key_type: Line | None = Query(None, max_length=16, description="RSA, EC or Ed25519"),
    key_size: int | None = Query(None, ge=1, le=16384),
    origin: Origin | None = Query(None, description="issued, imported or discovered"),
    serial: Line | None = Query(
        None, max_length=128, description="hex (colons allowed) or decimal"
    ),
    fingerprint: Line | None = Query(None, max_length=128, description="SHA-256 or SHA-1, hex"),
    include_expired: bool = Query(False),
    include_superseded: bool = Query(False),
    include_archived: bool = Query(False, description="also archived certificates"),
    sort: SortKey = Query(SortKey.NOT_AFTER),
    order: Annotated[Line, Query(pattern="^(asc|desc)$")] = "asc",
    limit: int = Query(50, ge=1, le=200),
    cursor: Line | None = Query(None, max_length=512),
    total: bool = Query(False, description="also count all matches (one more query)"),
    principal: Principal = Depends(require(Action.CERTIFICATE_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> CertificatePageOut:
    name, name_contains, issuer, key_type, serial, fingerprint = (
        search_text(name, field="name"),
        search_text(name_contains, field="name_contains"),
        search_text(issuer, field="issuer"),
        search_text(key_type, field="key_type"),
        search_text(serial, field="serial"),
        search_text(fingerprint, field="fingerprint"),
    )
    if fingerprint is not None and not _is_fingerprint(fingerprint):
        raise InvalidInput(
            "fingerprint must be 40 (SHA-1) or 64 (SHA-256) hex digits",
            code="invalid_fingerprint",
            field="fingerprint",
        )
    now = container.clock.now()
    page = search(
        session,
        principal,
        CertificateFilter(
            name=name,
            name_contains=name_contains,
            team_id=team_id,
            authority_id=authority_id,
            issuer=issuer,
            status=status,
            expiring_within_days=expiring_within_days,
            key_type=key_type,
            key_size=key_size,
            origin=origin,
            serial=serial,
            fingerprint=fingerprint,
            include_expired=include_expired,
            include_superseded=include_superseded,
            include_archived=include_archived,
        ),
        now=now,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
        with_total=total,
    )
    return CertificatePageOut(
        items=[CertificateOut.of(c, now=now) for c in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.get("/{certificate_id}", response_model=CertificateDetailOut, responses=errors(404))
def get_certificate(
    certificate_id: CertificateId,
    principal: Principal = Depends(require(Action.CERTIFICATE_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> CertificateDetailOut:
    return _detail(
        _services(container, principal, session).certificates().view(certificate_id), container
    )


@router.patch("/{certificate_id}", response_model=CertificateDetailOut, responses=errors(404))
def update_certificate(
    certificate_id: CertificateId, body: CertificateUpdate, services: Services = EDIT
) -> CertificateDetailOut:
    """Change the team, description or notifications (``certificate.update``, old and new)."""
    view = services.editing().update(certificate_id, body.changes())
    return CertificateDetailOut.render(view, now=services.clock.now())


@router.post("/{certificate_id}/archive", response_model=CertificateDetailOut, responses=E404_409)
def archive_certificate(
    certificate_id: CertificateId, services: Services = ARCHIVE
) -> CertificateDetailOut:
    """Hide it from default lists, renewal and expiry notices; kept, and still on its CRL."""
    view = services.editing().archive(certificate_id)
    return CertificateDetailOut.render(view, now=services.clock.now())


@router.post("/{certificate_id}/unarchive", response_model=CertificateDetailOut, responses=E404_409)
def unarchive_certificate(
    certificate_id: CertificateId, services: Services = ARCHIVE
) -> CertificateDetailOut:
    """Bring an archived certificate back into the lists (409 ``not_archived`` if it is not)."""
    view = services.editing().unarchive(certificate_id)
    return CertificateDetailOut.render(view, now=services.clock.now())


@router.get(
    "/{certificate_id}/export", response_class=Response, responses={**exported(), **errors(404)}
)
def export_certificate_get(
    certificate_id: CertificateId,
    format: Annotated[Line, Query(max_length=32)] = "pem-bundle",
    principal: Principal = Depends(require(Action.CERTIFICATE_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    """Public material only (certificate, chain); keys are exported with POST."""
    service = _services(container, principal, session).exports()
    return _file(service.export(certificate_id, fmt=format, passphrase=None, public_only=True))


@router.post(
    "/{certificate_id}/export", response_class=Response, responses={**exported(), **errors(404)}
)
def export_certificate(
    certificate_id: CertificateId,
    body: ExportRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    passphrase = body.passphrase.get_secret_value().encode() if body.passphrase else None
    service = _services(container, principal, session).exports()
    return _file(service.export(certificate_id, fmt=body.format, passphrase=passphrase))


@router.post("/{certificate_id}/revoke", response_model=RevocationOut, responses=errors(404, 409))
def revoke_certificate(
    certificate_id: CertificateId,
    body: RevokeRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_REVOKE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> RevocationOut:
    service = _services(container, principal, session).revocation()
    revocation = service.revoke(certificate_id, reason=body.reason)
    return RevocationOut.of_revocation(revocation, now=container.clock.now())


@router.post(
    "/{certificate_id}/renew",
    response_model=CertificateDetailOut,
    status_code=201,
    responses={**PENDING, **errors(404, 409, 502, 503)},
)
def renew_certificate(
    certificate_id: CertificateId,
    body: RenewRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_ISSUE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    service = _services(container, principal, session).issuance()
    try:
        renewed = service.renew(
            certificate_id, validity_days=body.validity_days, csr=material(body.csr, field="csr")
        )
    except InvalidInput as exc:
        raise _renew_error(exc, body) from exc
    return _created(renewed, container)
