"""Writing certificates into the inventory and reading their material back.

Every certificate enters through :func:`add_certificate`, whatever its origin, so the
parsed columns, the name index and the encrypted key are always written the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Insert, Integer, Subquery, Table, bindparam, func, select
from sqlalchemy.orm import Session

from lemur.audit.service import LOCKED_HEAD
from lemur.certificates.models import Certificate, CertificateName, NameEntry, PrivateKey
from lemur.certificates.renewal import renew_after
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import PrivateKey as PrivateKeyObject
from lemur.crypto.keys import key_spec_of
from lemur.crypto.parsing import certificates_to_pem, load_certificates
from lemur.errors import Conflict


def name_rows(details: CertificateDetails) -> list[NameEntry]:
    """The rows of the name index for a certificate: its CN (lowercased, without a
    trailing dot), then each SAN, de-duplicated per kind; names over 255 characters are not
    indexed."""
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
            rows.append(NameEntry(kind, name))
    return rows


# Statements built once: issuance runs them inside the write transaction, where building
# and compiling statements each time would lengthen what every writer waits for.
_CERTIFICATES = cast(Table, Certificate.__table__)


def _insert_certificate(new_id: Subquery) -> Insert:
    """INSERT ... SELECT that takes the new id from ``new_id`` and uses it as the lineage
    too unless a ``lineage_id`` is given: a certificate that starts its own lineage needs
    no second statement to point at itself. It also locks the audit chain's head and
    returns it, for the event the caller appends in the same transaction: on PostgreSQL
    one round trip instead of two (the head lock is the one every writer queues for)."""
    columns = [c for c in _CERTIFICATES.c if c.key not in ("id", "lineage_id")]
    values = select(
        new_id.c.id,
        func.coalesce(bindparam("lineage_id", type_=Integer), new_id.c.id),
        *(bindparam(c.key, type_=c.type) for c in columns),
    )
    return (
        _CERTIFICATES.insert()
        .from_select(["id", "lineage_id", *(c.key for c in columns)], values)
        .add_cte(LOCKED_HEAD)
        .returning(
            _CERTIFICATES.c.id,
            _CERTIFICATES.c.lineage_id,
            select(LOCKED_HEAD.c.seq).scalar_subquery(),
            select(LOCKED_HEAD.c.hash).scalar_subquery(),
        )
    )


# The next id, per dialect: PostgreSQL's sequence; on SQLite the rowid SQLite itself would
# choose (max + 1, the table has no AUTOINCREMENT), safe as writers hold the write lock.
_INSERT_CERTIFICATE = {
    "postgresql": _insert_certificate(
        select(func.nextval("certificates_id_seq").label("id")).subquery("new")
    ),
    "sqlite": _insert_certificate(
        select((func.coalesce(func.max(_CERTIFICATES.c.id), 0) + 1).label("id")).subquery("new")
    ),
}
_LINEAGE_OF = select(func.coalesce(_CERTIFICATES.c.lineage_id, _CERTIFICATES.c.id)).where(
    _CERTIFICATES.c.id == bindparam("certificate_id")
)
_LINK_RENEWAL = (
    _CERTIFICATES.update()
    .where(_CERTIFICATES.c.id == bindparam("old_id"), _CERTIFICATES.c.replaced_by_id.is_(None))
    .values(replaced_by_id=bindparam("new_id"))
)
_INSERT_NAME = cast(Table, CertificateName.__table__).insert()
_INSERT_KEY = cast(Table, PrivateKey.__table__).insert()


@functools.lru_cache(maxsize=256)
def _chain_pem(chain: tuple[x509.Certificate, ...]) -> str:
    """The stored form of a chain; an authority's certificates all carry the same one."""
    return certificates_to_pem(list(chain)).decode() if chain else ""


@dataclass(frozen=True)
class PreparedCertificate:
    """A certificate's rows, computed before any transaction: parsing, PEM encoding and key
    encryption happen here, so the write transaction only executes statements."""

    values: dict[str, Any]
    names: list[NameEntry]
    key_spec: str | None
    key_ciphertext: str | None
    details: CertificateDetails


def prepare_certificate(
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
) -> PreparedCertificate:
    details = describe_certificate(certificate)
    values: dict[str, Any] = {
        "fingerprint_sha256": details.sha256_fingerprint,
        "fingerprint_sha1": details.sha1_fingerprint,
        "serial_hex": details.serial_hex,
        "common_name": details.common_name[:255] if details.common_name else None,
        "subject": details.subject,
        "issuer": details.issuer,
        "issuer_common_name": (
            details.issuer_common_name[:255] if details.issuer_common_name else None
        ),
        "not_before": details.not_valid_before,
        "not_after": details.not_valid_after,
        "key_type": details.key_type,
        "key_size": details.key_size or 0,
        "key_spec": details.key_spec.value if details.key_spec else None,
        "signature_algorithm": details.signature_algorithm,
        "is_ca": details.is_ca,
        "profile": profile,
        "origin": origin,
        "team_id": team_id,
        "authority_id": authority_id,
        "der": certificate.public_bytes(serialization.Encoding.DER),
        "chain_pem": _chain_pem(chain),
        "has_private_key": private_key is not None,
        "created_at": now,
        "created_by": created_by,
        "renew_after": renew_after(details.not_valid_before, details.not_valid_after),
    }
    key_spec = ciphertext = None
    if private_key is not None:
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key_spec = key_spec_of(private_key.public_key()).value
        ciphertext = keyring.encrypt(der)
    return PreparedCertificate(values, name_rows(details), key_spec, ciphertext, details)


def insert_certificate(
    session: Session,
    prepared: PreparedCertificate,
    *,
    replaces_id: int | None = None,
    check_duplicate: bool = True,
    field: str = "certificate",
) -> dict[str, Any]:
    """Write a prepared certificate (does not commit); returns the row's values as written,
    ``id`` and ``lineage_id`` included. A renewal is linked into its predecessor's lineage,
    and only if no one renewed it first. Raises Conflict for a duplicate (by SHA-256
    fingerprint) or an already replaced predecessor."""
    written, _head = insert_certificate_row(
        session, prepared, replaces_id=replaces_id, check_duplicate=check_duplicate, field=field
    )
    insert_dependents(session, prepared, written)
    return written


def insert_certificate_row(
    session: Session,
    prepared: PreparedCertificate,
    *,
    replaces_id: int | None = None,
    check_duplicate: bool = True,
    field: str = "certificate",
) -> tuple[dict[str, Any], tuple[int, str]]:
    """The statements of insert_certificate whose results it needs: the duplicate check,
    the row itself (for its id) and a renewal's compare-and-set link. The audit head is
    locked from here to the commit. Returns the row's values as written (``id`` and
    ``lineage_id`` included) and the audit head's (seq, hash)."""
    values = dict(prepared.values)
    if check_duplicate:
        existing = session.scalar(
            select(Certificate.id).where(
                Certificate.fingerprint_sha256 == values["fingerprint_sha256"]
            )
        )
        if existing is not None:
            raise Conflict(
                f"this certificate is already in the inventory as certificate {existing}",
                code="certificate_exists",
                field=field,
            )
    conn = session.connection()
    lineage_id = None
    if replaces_id is not None:
        lineage_id = conn.execute(_LINEAGE_OF, {"certificate_id": replaces_id}).scalar_one_or_none()
        values["replaces_id"] = replaces_id
    values.setdefault("replaces_id", None)
    values.setdefault("replaced_by_id", None)
    values.setdefault("revoked_at", None)
    values.setdefault("revocation_reason", None)
    values.setdefault("external_id", None)
    new_id, lineage_id, head_seq, head_hash = conn.execute(
        _INSERT_CERTIFICATE[conn.dialect.name], {**values, "lineage_id": lineage_id}
    ).one()
    if replaces_id is not None:
        # Compare-and-set: of two concurrent renewals, only the first links in.
        linked = conn.execute(_LINK_RENEWAL, {"old_id": replaces_id, "new_id": new_id})
        if linked.rowcount != 1:
            raise Conflict(
                f"certificate {replaces_id} was renewed meanwhile",
                code="already_replaced",
                field="certificate_id",
            )
    return {**values, "id": new_id, "lineage_id": lineage_id}, (int(head_seq), str(head_hash))


def insert_dependents(
    session: Session, prepared: PreparedCertificate, written: dict[str, Any]
) -> None:
    """The statements of insert_certificate whose results nobody reads (the name index,
    the encrypted key): they can travel in one pipeline."""
    conn = session.connection()
    new_id = written["id"]
    if prepared.names:
        conn.execute(
            _INSERT_NAME,
            [{"certificate_id": new_id, "kind": n.kind, "name": n.name} for n in prepared.names],
        )
    if prepared.key_ciphertext is not None:
        conn.execute(
            _INSERT_KEY,
            {
                "certificate_id": new_id,
                "key_spec": prepared.key_spec,
                "ciphertext": prepared.key_ciphertext,
                "created_at": written["created_at"],
            },
        )


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
    field: str = "certificate",
) -> Certificate:
    """Add one certificate (does not commit) and return its row. Raises Conflict on a
    duplicate."""
    prepared = prepare_certificate(
        certificate,
        chain=chain,
        origin=origin,
        team_id=team_id,
        authority_id=authority_id,
        profile=profile,
        created_by=created_by,
        now=now,
        keyring=keyring,
        private_key=private_key,
    )
    new_id = insert_certificate(session, prepared, field=field)["id"]
    row = session.get(Certificate, new_id)
    assert row is not None
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
