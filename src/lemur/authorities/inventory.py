"""What authorities need from the certificate inventory, as an interface.

An authority's own certificate is a row of the inventory like any other (same columns,
name index, encrypted key), and its CRL and OCSP answers are built from the revocations
recorded there. The certificate store (``lemur.certificates.store``) implements this
protocol and the service factory hands it in, so authorities never import certificates:
the dependency runs one way, certificates -> authorities (docs/decisions/0009).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from sqlalchemy.orm import Session

from lemur.crypto.keys import PrivateKey
from lemur.crypto.revocation import RevocationReason, RevokedEntry


@dataclass(frozen=True)
class CACertificate:
    """An authority's certificate as the inventory holds it, parsed."""

    id: int
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # its issuers, nearest first
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    key_size: int
    fingerprint_sha256: str


@dataclass(frozen=True)
class SerialStatus:
    """What the inventory knows about one serial of an authority."""

    revoked_at: dt.datetime | None
    reason: RevocationReason | None


class CertificateInventory(Protocol):
    def add_ca(
        self,
        session: Session,
        certificate: x509.Certificate,
        *,
        chain: tuple[x509.Certificate, ...],
        private_key: PrivateKey | None,
        origin: str,
        authority_id: int | None,
        created_by: str,
        now: dt.datetime,
    ) -> int:
        """Write a CA certificate (and its key, encrypted) into the inventory in the
        session's transaction; returns its id. Raises Conflict(certificate_exists)."""

    def ca_certificates(self, session: Session, ids: Collection[int]) -> dict[int, CACertificate]:
        """The certificates with these ids (one statement)."""

    def private_key(self, session: Session, certificate_id: int) -> PrivateKey | None:
        """The decrypted key of a certificate, if Lemur holds it."""

    def ids_with_subject(self, session: Session, subject: str) -> list[int]:
        """The certificates whose subject is ``subject`` (RFC 4514 string)."""

    def revoked(
        self, session: Session, authority_id: int, *, excluding: int | None
    ) -> list[RevokedEntry]:
        """The revoked certificates issued by an authority (its own certificate aside)."""

    def serial_status(
        self, session: Session, authority_id: int, serial_hex: str, *, excluding: int | None
    ) -> SerialStatus | None:
        """A serial issued by an authority, or None when it issued no such serial."""

    def issued_counts(self, session: Session, *, excluding: Collection[int]) -> dict[int, int]:
        """Authority id -> how many certificates it issued, leaving out the certificates
        ``excluding`` names (the authorities' own); one grouped statement."""
