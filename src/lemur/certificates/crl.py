"""Revocation status for local CAs: the CRL at each authority's distribution point URL and
OCSP answers (RFC 6960) at its AIA URL.

The CRL is regenerated inside the transaction that revokes a certificate, and lazily when
it is fetched in the second half of its validity, so a published CRL is never past its
nextUpdate. OCSP answers are computed per request from the database (one indexed lookup
and one signature), so they are never staler than the last commit.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from sqlalchemy import select
from sqlalchemy.orm import Session

from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate
from lemur.crypto.revocation import (
    OCSPRequestInfo,
    RevocationReason,
    RevokedEntry,
    build_crl,
    build_ocsp_response,
    issuer_matches_request,
    ocsp_unauthorized_response,
)
from lemur.plugins.values import SigningAuthority

CRL_LIFETIME = dt.timedelta(days=3)
OCSP_LIFETIME = dt.timedelta(hours=12)


def mark_crl_stale(authority: Authority) -> None:
    authority.crl_stale = True


def crl_needs_refresh(authority: Authority, now: dt.datetime) -> bool:
    if authority.crl_stale or authority.crl_der is None or authority.crl_next_update is None:
        return True
    return authority.crl_next_update - now < CRL_LIFETIME / 2


def regenerate_crl(
    session: Session, authority: Authority, *, signer: SigningAuthority, now: dt.datetime
) -> bytes:
    """Build and store a new CRL (the caller commits); returns its DER."""
    revoked = session.execute(
        select(Certificate.serial_hex, Certificate.revoked_at, Certificate.revocation_reason).where(
            Certificate.authority_id == authority.id,
            Certificate.revoked_at.is_not(None),
            Certificate.id != authority.certificate_id,
        )
    ).all()
    authority.crl_number += 1
    crl = build_crl(
        issuer_cert=signer.certificate,
        issuer_key=signer.private_key,
        revoked=[
            RevokedEntry(
                serial_number=int(serial, 16),
                revoked_at=revoked_at,
                reason=RevocationReason(reason) if reason else RevocationReason.UNSPECIFIED,
            )
            for serial, revoked_at, reason in revoked
            if revoked_at is not None
        ],
        this_update=now,
        next_update=now + CRL_LIFETIME,
        crl_number=authority.crl_number,
    )
    der = crl.public_bytes(serialization.Encoding.DER)
    authority.crl_der = der
    authority.crl_next_update = now + CRL_LIFETIME
    authority.crl_stale = False
    return der


def ocsp_response(
    session: Session,
    authority: Authority,
    info: OCSPRequestInfo,
    *,
    signer: SigningAuthority,
    now: dt.datetime,
) -> ocsp.OCSPResponse:
    """Good, revoked (with time and reason) or unknown for the requested serial."""
    if not issuer_matches_request(signer.certificate, info):
        return ocsp_unauthorized_response()
    row = session.execute(
        select(Certificate.revoked_at, Certificate.revocation_reason).where(
            Certificate.authority_id == authority.id,
            Certificate.serial_hex == format(info.serial_number, "x"),
            Certificate.id != authority.certificate_id,
        )
    ).first()
    if row is None:
        status, revoked_at, reason = "unknown", None, None
    elif row.revoked_at is not None:
        status, revoked_at = "revoked", row.revoked_at
        reason = RevocationReason(row.revocation_reason) if row.revocation_reason else None
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
