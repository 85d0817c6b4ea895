"""Writing certificates into the inventory and reading their material back.

Every certificate enters through :func:`add_certificate`, whatever its origin, so the
parsed columns, the name index and the encrypted key are always written the same way.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from lemur.certificates.models import Certificate, CertificateName, PrivateKey
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import PrivateKey as PrivateKeyObject
from lemur.crypto.keys import key_spec_of
from lemur.crypto.parsing import certificates_to_pem, load_certificates
from lemur.errors import Conflict


def name_rows(details: CertificateDetails) -> list[CertificateName]:
    seen: set[tuple[str, str]] = set()
    rows = []
    candidates: list[tuple[str, str]] = []
    if details.common_name:
        candidates.append(("cn", details.common_name.lower().removesuffix(".")))
    candidates += [("dns", n) for n in details.sans.dns_names]
    candidates += [("ip", str(ip)) for ip in details.sans.ip_addresses]
    candidates += [("email", e.lower()) for e in details.sans.emails]
    candidates += [("uri", u) for u in details.sans.uris]
    for kind, name in candidates:
        if (kind, name) not in seen and len(name) <= 255:
            seen.add((kind, name))
            rows.append(CertificateName(kind=kind, name=name))
    return rows


def find_by_fingerprint(session: Session, fingerprint: str) -> Certificate | None:
    return session.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))


def add_certificate(
    session: Session,
    certificate: x509.Certificate,
    *,
    chain: tuple[x509.Certificate, ...],
    origin: str,
    team_id: int | None,
    authority_id: int | None,
    profile: str | None,
    created_by: str,
    now: dt.datetime,
    keyring: KeyRing,
    private_key: PrivateKeyObject | None = None,
    replaces: Certificate | None = None,
    field: str = "certificate",
) -> Certificate:
    """Add one certificate (flushes, does not commit). Raises Conflict on a duplicate."""
    details = describe_certificate(certificate)
    existing = find_by_fingerprint(session, details.sha256_fingerprint)
    if existing is not None:
        raise Conflict(
            f"this certificate is already in the inventory as certificate {existing.id}",
            code="certificate_exists",
            field=field,
        )
    row = Certificate(
        fingerprint_sha256=details.sha256_fingerprint,
        fingerprint_sha1=details.sha1_fingerprint,
        serial_hex=details.serial_hex,
        common_name=details.common_name[:255] if details.common_name else None,
        subject=details.subject,
        issuer=details.issuer,
        issuer_common_name=details.issuer_common_name[:255] if details.issuer_common_name else None,
        not_before=details.not_valid_before,
        not_after=details.not_valid_after,
        key_type=details.key_type,
        key_size=details.key_size or 0,
        key_spec=details.key_spec.value if details.key_spec else None,
        signature_algorithm=details.signature_algorithm,
        is_ca=details.is_ca,
        profile=profile,
        origin=origin,
        team_id=team_id,
        authority_id=authority_id,
        der=certificate.public_bytes(serialization.Encoding.DER),
        chain_pem=certificates_to_pem(list(chain)).decode() if chain else "",
        has_private_key=private_key is not None,
        created_at=now,
        created_by=created_by,
        replaces_id=replaces.id if replaces else None,
        lineage_id=(replaces.lineage_id or replaces.id) if replaces else None,
    )
    row.names = name_rows(details)
    session.add(row)
    session.flush()
    if row.lineage_id is None:
        row.lineage_id = row.id
    if replaces is not None:
        replaces.replaced_by_id = row.id
    if private_key is not None:
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        session.add(
            PrivateKey(
                certificate_id=row.id,
                key_spec=key_spec_of(private_key.public_key()).value,
                ciphertext=keyring.encrypt(der),
                created_at=now,
            )
        )
    return row


def x509_of(row: Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(row.der)


def chain_of(row: Certificate) -> tuple[x509.Certificate, ...]:
    if not row.chain_pem:
        return ()
    return tuple(load_certificates(row.chain_pem.encode(), field="chain"))


def private_key_of(session: Session, row: Certificate, keyring: KeyRing) -> PrivateKeyObject | None:
    stored = session.get(PrivateKey, row.id)
    if stored is None:
        return None
    key = serialization.load_der_private_key(keyring.decrypt(stored.ciphertext), password=None)
    return key  # type: ignore[return-value]
