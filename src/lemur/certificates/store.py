"""The certificate store: the only code that reads and writes certificate rows, their
names and their encrypted keys. Every read and write returns :class:`CertificateRecord`.

Every certificate enters through :meth:`CertificateStore.prepare` and
:meth:`CertificateStore.insert`, whatever its origin, so the parsed columns, the name index
and the encrypted key are always written the same way. The fast path of issuance
(docs/decisions/0005, 0008) lives here too: prebuilt Core statements, the INSERT ... SELECT
that takes the id and lineage and locks the audit chain's head in one statement, and the
statements whose results nobody reads, which the caller runs in the commit's pipeline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lemur.audit.service import ChainHead, checked_head
from lemur.authorities.inventory import CACertificate, SerialStatus
from lemur.certificates import statements as sql
from lemur.certificates.models import (
    Certificate,
    CertificateRecord,
    NameEntry,
    PrivateKey,
)
from lemur.certificates.renewal import renew_after
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import PrivateKey as PrivateKeyObject
from lemur.crypto.keys import key_spec_of
from lemur.crypto.parsing import certificates_to_pem, load_certificates
from lemur.crypto.revocation import RevocationReason, RevokedEntry
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


@functools.lru_cache(maxsize=256)
def _chain_pem(chain: tuple[x509.Certificate, ...]) -> str:
    """The stored form of a chain; an authority's certificates all carry the same one."""
    return certificates_to_pem(list(chain)).decode() if chain else ""


@dataclass(frozen=True)
class PreparedCertificate:
    """A certificate's rows, computed before any transaction: parsing, PEM encoding and key
    encryption happen here, so the write transaction only executes statements. ``record``
    holds the values to insert (its id and lineage are the database's to choose)."""

    record: CertificateRecord
    key_spec: str | None
    key_ciphertext: str | None
    details: CertificateDetails


def x509_of(record: CertificateRecord) -> x509.Certificate:
    return x509.load_der_x509_certificate(record.der)


def chain_of(record: CertificateRecord) -> tuple[x509.Certificate, ...]:
    return _parsed_chain(record.chain_pem)


@functools.lru_cache(maxsize=256)
def _parsed_chain(chain_pem: str) -> tuple[x509.Certificate, ...]:
    if not chain_pem:
        return ()
    return tuple(load_certificates(chain_pem.encode(), field="chain"))


def _record(row: Any, names: tuple[NameEntry, ...]) -> CertificateRecord:
    return CertificateRecord(**row._mapping, names=names)


class CertificateStore:
    """Reads and writes of certificate rows, in the session it is given (the unit of work's
    read session or its write transaction); it never commits. Implements the
    CertificateInventory protocol of lemur.authorities."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    # writing ----------------------------------------------------------------------------

    def prepare(
        self,
        certificate: x509.Certificate,
        *,
        chain: tuple[x509.Certificate, ...],
        origin: str,
        team_id: int | None,
        authority_id: int | None,
        profile: str | None,
        created_by: str,
        now: dt.datetime,
        private_key: PrivateKeyObject | None = None,
        external_id: str | None = None,
    ) -> PreparedCertificate:
        details = describe_certificate(certificate)
        key_spec = ciphertext = None
        if private_key is not None:
            key_spec = key_spec_of(private_key.public_key()).value
            ciphertext = self.encrypt_private_key(private_key)
        record = CertificateRecord(
            id=0,
            fingerprint_sha256=details.sha256_fingerprint,
            fingerprint_sha1=details.sha1_fingerprint,
            serial_hex=details.serial_hex,
            common_name=details.common_name[:255] if details.common_name else None,
            subject=details.subject,
            issuer=details.issuer,
            issuer_common_name=(
                details.issuer_common_name[:255] if details.issuer_common_name else None
            ),
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
            chain_pem=_chain_pem(chain),
            has_private_key=private_key is not None,
            revoked_at=None,
            revocation_reason=None,
            lineage_id=None,
            replaces_id=None,
            replaced_by_id=None,
            created_at=now,
            created_by=created_by,
            external_id=external_id,
            renew_after=renew_after(details.not_valid_before, details.not_valid_after),
            names=tuple(name_rows(details)),
        )
        return PreparedCertificate(record, key_spec, ciphertext, details)

    def insert(
        self,
        session: Session,
        prepared: PreparedCertificate,
        *,
        replaces_id: int | None = None,
        check_duplicate: bool = True,
        field: str = "certificate",
    ) -> tuple[CertificateRecord, ChainHead]:
        """The statements of a write whose results are read: the duplicate check, the row
        itself (for its id) and a renewal's compare-and-set link into its lineage. The audit
        chain's head is locked from here to the commit, and returned for the event the
        caller appends. Raises Conflict(certificate_exists) for a duplicate (by SHA-256
        fingerprint) or Conflict(already_replaced) when someone renewed the predecessor
        first. Follow with :meth:`insert_dependents`."""
        values = prepared.record
        if check_duplicate:
            existing = session.scalar(
                select(Certificate.id).where(
                    Certificate.fingerprint_sha256 == values.fingerprint_sha256
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
            lineage_id = conn.execute(
                sql.LINEAGE_OF, {"certificate_id": replaces_id}
            ).scalar_one_or_none()
        params = {name: getattr(values, name) for name in sql.COLUMNS}
        params["replaces_id"] = replaces_id
        params["lineage_id"] = lineage_id
        new_id, lineage_id, head_seq, head_hash = conn.execute(
            sql.INSERT_CERTIFICATE[conn.dialect.name], params
        ).one()
        if replaces_id is not None:
            # Compare-and-set: of two concurrent renewals, only the first links in.
            linked = conn.execute(sql.LINK_RENEWAL, {"old_id": replaces_id, "new_id": new_id})
            if linked.rowcount != 1:
                raise Conflict(
                    f"certificate {replaces_id} was renewed meanwhile",
                    code="already_replaced",
                    field="certificate_id",
                )
        record = dataclasses.replace(
            values, id=new_id, lineage_id=lineage_id, replaces_id=replaces_id
        )
        return record, checked_head(head_seq, head_hash)

    def insert_dependents(
        self, session: Session, prepared: PreparedCertificate, record: CertificateRecord
    ) -> None:
        """The statements of a write whose results nobody reads (the name index, the
        encrypted key): they can travel in the commit's pipeline."""
        conn = session.connection()
        if record.names:
            conn.execute(
                sql.INSERT_NAME,
                [
                    {"certificate_id": record.id, "kind": n.kind, "name": n.name}
                    for n in record.names
                ],
            )
        if prepared.key_ciphertext is not None:
            conn.execute(
                sql.INSERT_KEY,
                {
                    "certificate_id": record.id,
                    "key_spec": prepared.key_spec,
                    "ciphertext": prepared.key_ciphertext,
                    "created_at": record.created_at,
                },
            )

    def add(
        self, session: Session, prepared: PreparedCertificate, *, field: str = "certificate"
    ) -> CertificateRecord:
        """Insert a prepared certificate with its names and key in the session's
        transaction. Raises Conflict(certificate_exists)."""
        record, _head = self.insert(session, prepared, field=field)
        self.insert_dependents(session, prepared, record)
        return record

    def mark_revoked(
        self, session: Session, certificate_id: int, *, at: dt.datetime, reason: RevocationReason
    ) -> bool:
        """Record a revocation unless one is recorded already (compare-and-set); returns
        whether this call recorded it."""
        result = session.connection().execute(
            sql.MARK_REVOKED, {"certificate_id": certificate_id, "at": at, "reason": reason.value}
        )
        return bool(result.rowcount == 1)

    def mark_archived(
        self, session: Session, certificate_id: int, *, at: dt.datetime, by: str
    ) -> bool:
        """Archive unless archived already (compare-and-set); returns whether this call did."""
        result = session.connection().execute(
            sql.MARK_ARCHIVED, {"certificate_id": certificate_id, "at": at, "by": by}
        )
        return bool(result.rowcount == 1)

    def clear_archived(self, session: Session, certificate_id: int) -> bool:
        """Unarchive if archived (compare-and-set); returns whether this call did."""
        result = session.connection().execute(
            sql.CLEAR_ARCHIVED, {"certificate_id": certificate_id}
        )
        return bool(result.rowcount == 1)

    def update_settings(
        self, session: Session, certificate_id: int, *, team_id: int | None, description: str | None
    ) -> None:
        """Write a certificate's owning team and description."""
        session.connection().execute(
            sql.UPDATE_SETTINGS,
            {
                "certificate_id": certificate_id,
                "new_team_id": team_id,
                "new_description": description,
            },
        )

    # reading ----------------------------------------------------------------------------

    def _with_names(self, session: Session, rows: Sequence[Any]) -> list[CertificateRecord]:
        if not rows:
            return []
        names: dict[int, list[NameEntry]] = {}
        for certificate_id, kind, name in session.execute(
            sql.SELECT_NAMES, {"ids": [r.id for r in rows]}
        ):
            names.setdefault(certificate_id, []).append(NameEntry(kind, name))
        return [_record(r, tuple(names.get(r.id, ()))) for r in rows]

    def get(self, session: Session, certificate_id: int) -> CertificateRecord | None:
        """One certificate with its names, team and authority names (two statements)."""
        rows: Sequence[Any] = session.execute(
            sql.SELECT_RECORDS.where(sql.CERTIFICATES.c.id == certificate_id)
        ).all()
        found = self._with_names(session, rows)
        return found[0] if found else None

    def by_fingerprint(self, session: Session, sha256_hex: str) -> CertificateRecord | None:
        """The certificate with this SHA-256 fingerprint (lowercase hex), if held."""
        rows: Sequence[Any] = session.execute(
            sql.SELECT_RECORDS.where(sql.CERTIFICATES.c.fingerprint_sha256 == sha256_hex)
        ).all()
        found = self._with_names(session, rows)
        return found[0] if found else None

    def lineage(self, session: Session, record: CertificateRecord) -> list[CertificateRecord]:
        """The certificates of a lineage, oldest first."""
        if record.lineage_id is None:
            return [record]
        rows: Sequence[Any] = session.execute(
            sql.SELECT_RECORDS.where(sql.CERTIFICATES.c.lineage_id == record.lineage_id)
            # Renewals issued within the same second share not_before: id keeps the order.
            .order_by(sql.CERTIFICATES.c.not_before, sql.CERTIFICATES.c.id)
        ).all()
        return self._with_names(session, rows)

    @staticmethod
    def record_of(
        row: Certificate, *, team_name: str | None, authority_name: str | None
    ) -> CertificateRecord:
        """The record of an ORM row a search loaded (with its names)."""
        return CertificateRecord(
            **{name: getattr(row, name) for name in sql.COLUMNS},
            names=tuple(NameEntry(n.kind, n.name) for n in row.names),
            team_name=team_name,
            authority_name=authority_name,
        )

    def private_key(self, session: Session, certificate_id: int) -> PrivateKeyObject | None:
        stored = session.get(PrivateKey, certificate_id)
        if stored is None:
            return None
        return self.decrypt_private_key(stored.ciphertext)

    def encrypt_private_key(self, private_key: PrivateKeyObject) -> str:
        """The key as Lemur stores it: PKCS#8 DER encrypted with the key ring."""
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return self._keyring.encrypt(der)

    def decrypt_private_key(self, ciphertext: str) -> PrivateKeyObject:
        key = serialization.load_der_private_key(self._keyring.decrypt(ciphertext), password=None)
        return key  # type: ignore[return-value]

    # what authorities need (lemur.authorities.inventory.CertificateInventory) ----------

    def add_ca(
        self,
        session: Session,
        certificate: x509.Certificate,
        *,
        chain: tuple[x509.Certificate, ...],
        private_key: PrivateKeyObject | None,
        origin: str,
        authority_id: int | None,
        created_by: str,
        now: dt.datetime,
    ) -> int:
        prepared = self.prepare(
            certificate,
            chain=chain,
            origin=origin,
            team_id=None,
            authority_id=authority_id,
            profile="ca",
            created_by=created_by,
            now=now,
            private_key=private_key,
        )
        return self.add(session, prepared).id

    def ca_certificates(self, session: Session, ids: Collection[int]) -> dict[int, CACertificate]:
        rows = session.execute(select(*sql.CA_COLUMNS).where(sql.CERTIFICATES.c.id.in_(list(ids))))
        return {
            r.id: CACertificate(
                id=r.id,
                certificate=x509.load_der_x509_certificate(r.der),
                chain=_parsed_chain(r.chain_pem),
                subject=r.subject,
                not_before=r.not_before,
                not_after=r.not_after,
                key_type=r.key_type,
                key_size=r.key_size,
                fingerprint_sha256=r.fingerprint_sha256,
            )
            for r in rows
        }

    def ids_with_subject(self, session: Session, subject: str) -> list[int]:
        return list(
            session.scalars(
                select(sql.CERTIFICATES.c.id).where(sql.CERTIFICATES.c.subject == subject)
            )
        )

    def revoked(
        self, session: Session, authority_id: int, *, excluding: int | None
    ) -> list[RevokedEntry]:
        rows = session.execute(
            select(
                sql.CERTIFICATES.c.serial_hex,
                sql.CERTIFICATES.c.revoked_at,
                sql.CERTIFICATES.c.revocation_reason,
            ).where(
                sql.CERTIFICATES.c.authority_id == authority_id,
                sql.CERTIFICATES.c.revoked_at.is_not(None),
                sql.CERTIFICATES.c.id != (excluding or 0),
            )
        )
        return [
            RevokedEntry(
                serial_number=int(serial, 16),
                revoked_at=revoked_at,
                reason=RevocationReason(reason) if reason else RevocationReason.UNSPECIFIED,
            )
            for serial, revoked_at, reason in rows
        ]

    def issued_counts(self, session: Session, *, excluding: Collection[int]) -> dict[int, int]:
        table = sql.CERTIFICATES
        statement = (
            select(table.c.authority_id, func.count())
            .where(table.c.authority_id.is_not(None))
            .group_by(table.c.authority_id)
        )
        if excluding:
            statement = statement.where(table.c.id.not_in(list(excluding)))
        return {int(a): int(n) for a, n in session.execute(statement).all()}

    def serial_status(
        self, session: Session, authority_id: int, serial_hex: str, *, excluding: int | None
    ) -> SerialStatus | None:
        row = session.execute(
            select(sql.CERTIFICATES.c.revoked_at, sql.CERTIFICATES.c.revocation_reason).where(
                sql.CERTIFICATES.c.authority_id == authority_id,
                sql.CERTIFICATES.c.serial_hex == serial_hex,
                sql.CERTIFICATES.c.id != (excluding or 0),
            )
        ).first()
        if row is None:
            return None
        reason = RevocationReason(row.revocation_reason) if row.revocation_reason else None
        return SerialStatus(row.revoked_at, reason)
