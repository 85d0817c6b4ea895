"""/api/v1/certificates: request, import, search, detail, export, revoke, renew."""

from __future__ import annotations

import string
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from lemur.authorities.service import AuthorityURLs
from lemur.authz import Action, Principal
from lemur.certificates.enums import SortKey, Status
from lemur.certificates.queries import CertificateFilter, certificate_view, search
from lemur.certificates.requests import NewCertificate
from lemur.certificates.schemas import (
    CertificateDetailOut,
    CertificateImport,
    CertificateOut,
    CertificatePageOut,
    CertificateRequest,
    ExportRequest,
    RenewRequest,
    RevokeRequest,
    material,
)
from lemur.certificates.service import CertificateService, ImportedCertificate
from lemur.certificates.store import x509_of
from lemur.container import Container
from lemur.crypto.inspection import describe_certificate
from lemur.errors import InvalidInput
from lemur.ids import MAX_ID, PathId
from lemur.plugins.values import Exported
from lemur.text import Line
from lemur.web.api import get_container, read_session, require, search_text, write_session
from lemur.web.openapi import errors, exported

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])
CertificateId = PathId


def _service(session: Session, container: Container, principal: Principal) -> CertificateService:
    return CertificateService(
        session,
        clock=container.clock,
        keyring=container.keyring,
        plugins=container.plugins,
        urls=AuthorityURLs(container.settings.effective_base_url),
        actor=principal,
        db=container.db,
        signing_keys=container.signing_keys,
    )


def _detail(
    session: Session, container: Container, service: CertificateService, certificate_id: int
) -> CertificateDetailOut:
    cert = service.get(certificate_id)
    view = certificate_view(session, cert)
    return CertificateDetailOut.render(
        cert,
        details=describe_certificate(x509_of(cert)),
        team=view.team_name,
        authority=view.authority_name,
        lineage=view.lineage,
        history=view.history,
        now=container.clock.now(),
    )


def _created(detail: CertificateDetailOut) -> Response:
    """201 with the detail serialised here: FastAPI would validate the model again first."""
    return Response(detail.model_dump_json(), status_code=201, media_type="application/json")


def _is_fingerprint(value: str) -> bool:
    digits = value.strip().replace(":", "")
    return len(digits) in (40, 64) and all(c in string.hexdigits for c in digits)


def _committed_detail(
    container: Container, principal: Principal, certificate_id: int
) -> CertificateDetailOut:
    """The detail of a certificate the use case just committed, read in a read transaction:
    rendering must not hold (on SQLite: queue for) the write lock."""
    with container.db.read() as session:
        return _detail(session, container, _service(session, container, principal), certificate_id)


def _file(exported: Exported) -> Response:
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("", response_model=CertificateDetailOut, status_code=201, responses=errors(404))
async def request_certificate(
    body: CertificateRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_ISSUE)),
    session: Session = Depends(read_session),  # the service writes in its own transaction
    container: Container = Depends(get_container),
) -> Response:
    """Runs on the event loop, not in the thread pool (docs/decisions/0007): an issuance
    with an EC key is a few milliseconds of CPU and two short transactions. Only RSA key
    generation, which takes tens of milliseconds and more, is handed to a thread."""
    service = _service(session, container, principal)
    sans = body.subject_alternative_names
    request = NewCertificate(
        team_id=body.team_id,
        authority_id=body.authority_id,
        common_name=body.common_name,
        dns_names=tuple(sans.dns_names),
        ip_addresses=tuple(sans.ip_addresses),
        emails=tuple(sans.emails),
        uris=tuple(sans.uris),
        profile=body.profile,
        validity_days=body.validity_days,
        key_spec=body.key_type,
        csr=material(body.csr, field="csr"),
    )
    if request.csr is None and request.key_spec.slow_to_generate:
        stored = await anyio.to_thread.run_sync(service.issue, request)
    else:
        stored = service.issue(request)
    # A new certificate's lineage is itself and its history the event just written: the
    # answer is rendered from what was stored, without reading it back.
    return _created(
        CertificateDetailOut.render(
            stored.row,
            details=stored.details,
            team=stored.team_name,
            authority=stored.authority_name,
            lineage=[stored.row],
            history=[stored.event],
            now=container.clock.now(),
        )
    )


@router.post(
    "/import", response_model=CertificateDetailOut, status_code=201, responses=errors(404, 409)
)
def import_certificate(
    body: CertificateImport,
    principal: Principal = Depends(require(Action.CERTIFICATE_IMPORT)),
    session: Session = Depends(write_session),
    container: Container = Depends(get_container),
) -> CertificateDetailOut:
    service = _service(session, container, principal)
    cert = service.import_(
        ImportedCertificate(
            team_id=body.team_id,
            certificate=material(body.certificate, field="certificate") or b"",
            chain=material(body.chain, field="chain"),
            private_key=material(body.private_key, field="private_key"),
            passphrase=body.passphrase.get_secret_value().encode() if body.passphrase else None,
        )
    )
    return _committed_detail(container, principal, cert.id)


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
    expiring_within_days: int | None = Query(None, ge=0, le=3650),
    key_type: Line | None = Query(None, max_length=16, description="RSA, EC or Ed25519"),
    key_size: int | None = Query(None, ge=1, le=16384),
    serial: Line | None = Query(
        None, max_length=128, description="hex (colons allowed) or decimal"
    ),
    fingerprint: Line | None = Query(None, max_length=128, description="SHA-256 or SHA-1, hex"),
    include_expired: bool = Query(False),
    include_superseded: bool = Query(False),
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
            serial=serial,
            fingerprint=fingerprint,
            include_expired=include_expired,
            include_superseded=include_superseded,
        ),
        now=now,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
        with_total=total,
    )
    return CertificatePageOut(
        items=[
            CertificateOut.of(
                c,
                now=now,
                team=page.team_names.get(c.team_id) if c.team_id else None,
                authority=page.authority_names.get(c.authority_id) if c.authority_id else None,
            )
            for c in page.items
        ],
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
    return _detail(session, container, _service(session, container, principal), certificate_id)


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
    service = _service(session, container, principal)
    return _file(service.export(certificate_id, fmt=format, passphrase=None, public_only=True))


@router.post(
    "/{certificate_id}/export", response_class=Response, responses={**exported(), **errors(404)}
)
def export_certificate(
    certificate_id: CertificateId,
    body: ExportRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_READ)),
    session: Session = Depends(write_session),
    container: Container = Depends(get_container),
) -> Response:
    passphrase = body.passphrase.get_secret_value().encode() if body.passphrase else None
    return _file(
        _service(session, container, principal).export(
            certificate_id, fmt=body.format, passphrase=passphrase
        )
    )


@router.post("/{certificate_id}/revoke", response_model=CertificateOut, responses=errors(404, 409))
def revoke_certificate(
    certificate_id: CertificateId,
    body: RevokeRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_REVOKE)),
    session: Session = Depends(write_session),
    container: Container = Depends(get_container),
) -> CertificateOut:
    cert = _service(session, container, principal).revoke(certificate_id, reason=body.reason)
    view = certificate_view(session, cert)
    return CertificateOut.of(
        cert, now=container.clock.now(), team=view.team_name, authority=view.authority_name
    )


@router.post(
    "/{certificate_id}/renew",
    response_model=CertificateDetailOut,
    status_code=201,
    responses=errors(404, 409),
)
def renew_certificate(
    certificate_id: CertificateId,
    body: RenewRequest,
    principal: Principal = Depends(require(Action.CERTIFICATE_ISSUE)),
    session: Session = Depends(read_session),  # the service writes in its own transaction
    container: Container = Depends(get_container),
) -> Response:
    service = _service(session, container, principal)
    renewed = service.renew(
        certificate_id, validity_days=body.validity_days, csr=material(body.csr, field="csr")
    )
    return _created(_committed_detail(container, principal, renewed.id))
