"""/api/v1/authorities, and the public endpoints every relying party uses without logging
in: the CRL distribution point, the OCSP responder and the CA-issuers certificate. Those
run as the anonymous public principal, never as an operator."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from lemur.authorities.records import AuthorityRecord
from lemur.authorities.schemas import (
    AuthorityCreate,
    AuthorityDetailOut,
    AuthorityImport,
    AuthorityOut,
    AuthorityUpdate,
    ConnectionCheckOut,
    create_error,
)
from lemur.authz import Action, Principal, public_principal
from lemur.container import Container
from lemur.errors import InvalidInput
from lemur.ids import PathId
from lemur.services import Services
from lemur.web.api import get_container, read_session, require, services_for
from lemur.web.openapi import OCSP_REQUEST_BODY, binary, errors

router = APIRouter(prefix="/api/v1/authorities", tags=["authorities"])
public = APIRouter(tags=["revocation"])
CRL_CACHE = {"Cache-Control": "max-age=300"}
AuthorityId = PathId


def _services(container: Container, principal: Principal, session: Session) -> Services:
    return Services(container, principal, read=session)


@router.get("", response_model=list[AuthorityOut])
def list_authorities(
    principal: Principal = Depends(require(Action.AUTHORITY_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[AuthorityOut]:
    services = _services(container, principal, session)
    now = container.clock.now()
    return [AuthorityOut.of(a, services.urls, now=now) for a in services.authorities().list()]


@router.post(
    "", response_model=AuthorityDetailOut, status_code=201, responses=errors(404, 409, 502, 503)
)
def create_authority(
    body: AuthorityCreate,
    principal: Principal = Depends(require(Action.AUTHORITY_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    services = _services(container, principal, session)
    authorities = services.authorities()
    try:
        if authorities.plugin_creates_authorities(body.plugin):
            authority = authorities.create_local(body.to_spec())
        else:
            authority = authorities.create_remote(body.to_remote_spec())
    except InvalidInput as exc:
        raise create_error(exc) from exc
    return _detail(services, authority, container)


@router.post("/import", response_model=AuthorityDetailOut, status_code=201, responses=errors(409))
def import_authority(
    body: AuthorityImport,
    principal: Principal = Depends(require(Action.AUTHORITY_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    services = _services(container, principal, session)
    authority = services.authorities().import_external(
        body.name, body.certificate.encode(), description=body.description
    )
    return _detail(services, authority, container)


@router.get("/{authority_id}", response_model=AuthorityDetailOut, responses=errors(404))
def get_authority(
    authority_id: AuthorityId,
    principal: Principal = Depends(require(Action.AUTHORITY_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    services = _services(container, principal, session)
    return _detail(services, services.authorities().get(authority_id), container)


def _detail(
    services: Services, authority: AuthorityRecord, container: Container
) -> AuthorityDetailOut:
    return AuthorityDetailOut.of_detail(
        authority,
        services.urls,
        now=container.clock.now(),
        options=services.authorities().plugin_options(authority.id),
    )


MANAGE = Depends(services_for(Action.AUTHORITY_MANAGE))


@router.patch(
    "/{authority_id}", response_model=AuthorityDetailOut, responses=errors(404, 409, 502, 503)
)
def update_authority(
    authority_id: AuthorityId,
    body: AuthorityUpdate,
    services: Services = MANAGE,
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    """Change the description, or the options of a CA reached through a plugin: Lemur
    connects with the new options first and keeps the old ones if that fails (the plugin's
    error says why). Secrets left out keep their stored values. Audited as
    `authority.update`, naming the options changed, never their values."""
    authorities = services.authorities()
    authority = authorities.get(authority_id)
    if body.options is not None:
        authority = authorities.update_options(authority_id, body.options)
    if body.description is not None:
        authority = authorities.set_description(authority_id, body.description)
    return _detail(services, authority, container)


@router.post(
    "/{authority_id}/check",
    response_model=ConnectionCheckOut,
    responses=errors(404, 422, 502, 503),
)
def check_authority_connection(
    authority_id: AuthorityId,
    services: Services = MANAGE,
    container: Container = Depends(get_container),
) -> ConnectionCheckOut:
    """Connect to the CA with the stored options ("check connection"): the summary of what
    was checked, or the plugin's error (422 wrong options, 502 the CA refused, 503 it could
    not be reached). Audited as `authority.check`."""
    authority, summary = services.authorities().check_connection(authority_id)
    return ConnectionCheckOut(summary=summary, authority=_detail(services, authority, container))


@router.post(
    "/{authority_id}/deactivate", response_model=AuthorityDetailOut, responses=errors(404, 409)
)
def deactivate_authority(
    authority_id: AuthorityId,
    services: Services = MANAGE,
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    """The authority issues no new certificates (requests, renewals and CAs below it are
    refused with 409 `authority_inactive`); the certificates it issued are untouched, and
    its CRL and OCSP answers keep being served and refreshed. Audited as
    `authority.deactivate`. 409 `authority_already_inactive` if it is."""
    return _detail(services, services.authorities().deactivate(authority_id), container)


@router.post(
    "/{authority_id}/activate", response_model=AuthorityDetailOut, responses=errors(404, 409)
)
def activate_authority(
    authority_id: AuthorityId,
    services: Services = MANAGE,
    container: Container = Depends(get_container),
) -> AuthorityDetailOut:
    """A deactivated authority issues again. Audited as `authority.activate`. 409
    `authority_already_active` if it is active."""
    return _detail(services, services.authorities().activate(authority_id), container)


@public.get(
    "/ca/{authority_id}.cer",
    response_class=Response,
    responses={**binary("application/pkix-cert"), **errors(404)},
)
def ca_certificate(
    authority_id: AuthorityId,
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    service = _services(container, public_principal(), session).authorities()
    return Response(service.ca_certificate_der(authority_id), media_type="application/pkix-cert")


@public.get(
    "/crl/{authority_id}.crl",
    response_class=Response,
    responses={**binary("application/pkix-crl"), **errors(404)},
)
def crl(
    authority_id: AuthorityId,
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    """The current CRL (DER), signed anew first if a revocation made it stale or it is in
    the second half of its validity."""
    service = _services(container, public_principal(), session).authorities()
    return Response(
        service.current_crl(authority_id), media_type="application/pkix-crl", headers=CRL_CACHE
    )


def _ocsp(container: Container, authority_id: int, der: bytes) -> Response:
    with Services(container, public_principal()) as services:
        answer: ocsp.OCSPResponse = services.authorities().ocsp(authority_id, der)
    return Response(answer.public_bytes(Encoding.DER), media_type="application/ocsp-response")


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
