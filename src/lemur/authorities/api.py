"""/api/v1/authorities, and the public endpoints every relying party uses without logging
in: the CRL distribution point, the OCSP responder and the CA-issuers certificate."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from lemur.authorities.models import Authority
from lemur.authorities.schemas import (
    AuthorityCreate,
    AuthorityDetailOut,
    AuthorityImport,
    AuthorityOut,
)
from lemur.authorities.service import (
    AuthorityService,
    AuthorityURLs,
    LocalAuthoritySpec,
    SubjectFields,
    authority_chain,
)
from lemur.authz import Action, Principal, cli_principal
from lemur.certificates.crl import crl_needs_refresh, ocsp_response, regenerate_crl
from lemur.container import Container
from lemur.crypto.parsing import certificate_to_pem
from lemur.crypto.revocation import (
    malformed_request_response,
    ocsp_unauthorized_response,
    parse_ocsp_request,
)
from lemur.errors import InvalidInput, NotFound
from lemur.ids import MAX_ID, PathId
from lemur.web.api import get_container, read_session, require, write_session
from lemur.web.openapi import OCSP_REQUEST_BODY, binary, errors

router = APIRouter(prefix="/api/v1/authorities", tags=["authorities"])
public = APIRouter(tags=["revocation"])
MAX_OCSP_REQUEST = 4096
CRL_CACHE = {"Cache-Control": "max-age=300"}
AuthorityId = PathId


def _urls(container: Container) -> AuthorityURLs:
    return AuthorityURLs(container.settings.effective_base_url)


def _service(session: Session, container: Container, principal: Principal) -> AuthorityService:
    return AuthorityService(
        session,
        clock=container.clock,
        keyring=container.keyring,
        plugins=container.plugins,
        urls=_urls(container),
        actor=principal,
        signing_keys=container.signing_keys,
    )


def _detail(
    session: Session, container: Container, service: AuthorityService, authority_id: int
) -> AuthorityDetailOut:
    authority = service.get(authority_id)
    chain = authority_chain(session, authority)
    return AuthorityDetailOut(
        **AuthorityOut.of(authority, _urls(container), now=container.clock.now()).model_dump(),
        certificate_pem=certificate_to_pem(chain[0]).decode(),
        chain_pem=[certificate_to_pem(c).decode() for c in chain],
    )


@router.get("", response_model=list[AuthorityOut])
def list_authorities(
    principal: Principal = Depends(require(Action.AUTHORITY_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[AuthorityOut]:
    return [
        AuthorityOut.of(a, _urls(container), now=container.clock.now())
        for a in _service(session, container, principal).list()
    ]


@router.post("", response_model=AuthorityDetailOut, status_code=201, responses=errors(404, 409))
def create_authority(
    body: AuthorityCreate,
    principal: Principal = Depends(require(Action.AUTHORITY_MANAGE)),
    session: Session = Depends(write_session),
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    service = _service(session, container, principal)
    authority = service.create_local(
        LocalAuthoritySpec(
            name=body.name,
            description=body.description,
            subject=SubjectFields(**body.subject.model_dump()),
            key_spec=body.key_type,
            validity_days=body.validity_days,
            parent_id=body.parent_id,
            path_length=body.path_length,
            permitted_dns_subtrees=tuple(body.permitted_dns_domains),
            excluded_dns_subtrees=tuple(body.excluded_dns_domains),
            cab_forum=body.cab_forum,
            default_validity_days=body.default_validity_days,
            max_validity_days=body.max_validity_days,
            exportable=body.exportable,
        )
    )
    return _detail(session, container, service, authority.id)


@router.post("/import", response_model=AuthorityDetailOut, status_code=201, responses=errors(409))
def import_authority(
    body: AuthorityImport,
    principal: Principal = Depends(require(Action.AUTHORITY_MANAGE)),
    session: Session = Depends(write_session),
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    service = _service(session, container, principal)
    authority = service.import_external(
        body.name, body.certificate.encode(), description=body.description
    )
    return _detail(session, container, service, authority.id)


@router.get("/{authority_id}", response_model=AuthorityDetailOut, responses=errors(404))
def get_authority(
    authority_id: AuthorityId,
    principal: Principal = Depends(require(Action.AUTHORITY_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    return _detail(session, container, _service(session, container, principal), authority_id)


@public.get(
    "/ca/{authority_id}.cer",
    response_class=Response,
    responses={**binary("application/pkix-cert"), **errors(404)},
)
def ca_certificate(authority_id: AuthorityId, session: Session = Depends(read_session)) -> Response:
    authority = session.get(Authority, authority_id)
    if authority is None or authority.certificate is None:
        raise NotFound(
            f"no authority with id {authority_id}", code="authority_not_found", field="authority_id"
        )
    return Response(authority.certificate.der, media_type="application/pkix-cert")


@public.get(
    "/crl/{authority_id}.crl",
    response_class=Response,
    responses={**binary("application/pkix-crl"), **errors(404)},
)
def crl(authority_id: AuthorityId, container: Container = Depends(get_container)) -> Response:
    """The current CRL (DER), regenerated first if a revocation made it stale or it is in
    the second half of its validity."""
    now = container.clock.now()
    with container.db.read() as session:
        authority = session.get(Authority, authority_id)
        if authority is None or not authority.has_key:
            raise NotFound(
                f"authority {authority_id} publishes no CRL here",
                code="authority_not_found",
                field="authority_id",
            )
        if not crl_needs_refresh(authority, now) and authority.crl_der is not None:
            return Response(authority.crl_der, media_type="application/pkix-crl", headers=CRL_CACHE)
    with container.db.write() as session:
        service = _service(session, container, cli_principal())
        authority = service.get(authority_id)
        if crl_needs_refresh(authority, now):
            regenerate_crl(session, authority, signer=service.signing_authority(authority), now=now)
            session.commit()
        assert authority.crl_der is not None
        return Response(authority.crl_der, media_type="application/pkix-crl", headers=CRL_CACHE)


def _ocsp_answer(answer: ocsp.OCSPResponse) -> Response:
    return Response(answer.public_bytes(Encoding.DER), media_type="application/ocsp-response")


def _ocsp(container: Container, authority_id: int, der: bytes) -> Response:
    """RFC 6960 §2.3: every answer is an OCSP response, errors included, because OCSP
    clients do not read JSON."""
    if len(der) > MAX_OCSP_REQUEST:
        return _ocsp_answer(malformed_request_response())
    try:
        info = parse_ocsp_request(der, field="request")
    except InvalidInput:
        return _ocsp_answer(malformed_request_response())
    with container.db.read() as session:
        service = _service(session, container, cli_principal())
        authority = session.get(Authority, authority_id) if 0 < authority_id <= MAX_ID else None
        if authority is None or not authority.has_key or not authority.active:
            # Not a CA this responder signs for (unknown, imported without key, disabled).
            return _ocsp_answer(ocsp_unauthorized_response())
        signer = service.signing_authority(authority)
        answer = ocsp_response(session, authority, info, signer=signer, now=container.clock.now())
    return _ocsp_answer(answer)


@public.post(
    "/ocsp/{authority_id}",
    response_class=Response,
    responses={**binary("application/ocsp-response"), **errors(413)},
    openapi_extra=OCSP_REQUEST_BODY,
)
async def ocsp_post(
    authority_id: int, request: Request, container: Container = Depends(get_container)
) -> Response:
    """RFC 6960 §A.1: the DER request is the body (application/ocsp-request)."""
    der = await request.body()
    return await run_in_threadpool(_ocsp, container, authority_id, der)


@public.get(
    "/ocsp/{authority_id}/{encoded:path}",
    response_class=Response,
    responses=binary("application/ocsp-response"),
)
def ocsp_get(
    authority_id: int, encoded: str, container: Container = Depends(get_container)
) -> Response:
    """RFC 6960 §A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}."""
    try:
        der = base64.b64decode(unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        der = b""  # answered as malformedRequest
    return _ocsp(container, authority_id, der)
