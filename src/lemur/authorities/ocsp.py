"""OCSP answers (RFC 6960) for the authorities whose key Lemur holds, computed per request
from the inventory (one indexed lookup and one signature), so never staler than the last
commit."""

from __future__ import annotations

import datetime as dt

from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from lemur.authorities.inventory import CertificateInventory
from lemur.crypto.revocation import (
    OCSPRequestInfo,
    build_ocsp_response,
    issuer_matches_request,
)
from lemur.plugins.values import SigningAuthority

OCSP_LIFETIME = dt.timedelta(hours=12)


def ocsp_response(
    session: Session,
    authority_id: int,
    own_certificate_id: int | None,
    info: OCSPRequestInfo,
    *,
    signer: SigningAuthority,
    inventory: CertificateInventory,
    now: dt.datetime,
) -> ocsp.OCSPResponse:
    """Good, revoked (with time and reason) or unknown for the requested serial.

    A certificate this authority did not issue is ``unknown`` (RFC 6960 §2.2), whether the
    request names another issuer (a certificate of another authority, asked at this
    authority's URL) or names this one with a serial it never issued."""
    found = None
    if issuer_matches_request(signer.certificate, info):
        found = inventory.serial_status(
            session, authority_id, format(info.serial_number, "x"), excluding=own_certificate_id
        )
    if found is None:
        status, revoked_at, reason = "unknown", None, None
    elif found.revoked_at is not None:
        status, revoked_at, reason = "revoked", found.revoked_at, found.reason
    else:
        status, revoked_at, reason = "good", None, None
    return build_ocsp_response(
        request_info=info,
        issuer_cert=signer.certificate,
        issuer_key=signer.private_key,
        status=status,  # type: ignore[arg-type]
        this_update=now,
        next_update=now + OCSP_LIFETIME,
        revoked_at=revoked_at,
        reason=reason,
    )
