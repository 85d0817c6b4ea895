"""CRLs of the authorities whose key Lemur holds: numbering, staleness and generation.

The CRL is regenerated inside the transaction that revokes a certificate, and lazily when
it is fetched in the second half of its validity, so a published CRL is never past its
nextUpdate. Signing is the issuer plugin's CRLPublisher capability; the values it signs
(revoked entries, number, update times) come from here.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from lemur.authorities.inventory import CertificateInventory
from lemur.authorities.models import Authority
from lemur.plugins.base import CRLPublisher
from lemur.plugins.values import CRLRequest, SigningAuthority

CRL_LIFETIME = dt.timedelta(days=3)


def mark_crl_stale(authority: Authority) -> None:
    authority.crl_stale = True


def crl_needs_refresh(authority: Authority, now: dt.datetime) -> bool:
    if authority.crl_stale or authority.crl_der is None or authority.crl_next_update is None:
        return True
    return authority.crl_next_update - now < CRL_LIFETIME / 2


def regenerate_crl(
    session: Session,
    authority: Authority,
    *,
    publisher: CRLPublisher,
    signer: SigningAuthority,
    inventory: CertificateInventory,
    now: dt.datetime,
) -> bytes:
    """Sign and store the next CRL in the session's transaction (its owner commits);
    returns its DER. ``authority`` should be locked (``FOR UPDATE``) by the caller, so two
    writers never publish the same number."""
    revoked = inventory.revoked(session, authority.id, excluding=authority.certificate_id)
    authority.crl_number += 1
    crl = publisher.publish_crl(
        CRLRequest(
            authority=signer,
            revoked=tuple(revoked),
            crl_number=authority.crl_number,
            this_update=now,
            next_update=now + CRL_LIFETIME,
        )
    )
    der = crl.public_bytes(serialization.Encoding.DER)
    authority.crl_der = der
    authority.crl_next_update = now + CRL_LIFETIME
    authority.crl_stale = False
    return der
