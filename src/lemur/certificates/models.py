from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lemur.db import Base, UTCDateTime

# SQLite's FTS5 trigram index over certificate_names.name (migration 0004). Not a model:
# SQLite maintains it with triggers, and only the substring search reads it.
SQLITE_SEARCH_TABLE = "certificate_names_trgm"


class Certificate(Base):
    """One X.509 certificate. Parsed fields are copied into columns once, at the edge, so
    that search and listing never parse DER; ``der`` stays the source of truth."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_team_not_after", "team_id", "not_after"),
        Index("ix_certificates_authority_not_after", "authority_id", "not_after"),
        Index("ix_certificates_not_after_id", "not_after", "id"),
        Index("ix_certificates_renew_after", "renew_after"),
        # The renewal pass reads the largest per-certificate window override (lemur.renewal).
        # Partial: only certificates with an override, so issuance pays nothing for it.
        Index(
            "ix_certificates_renew_before_days",
            "renew_before_days",
            postgresql_where=text("renew_before_days IS NOT NULL"),
            sqlite_where=text("renew_before_days IS NOT NULL"),
        ),
        # Covers what /metrics counts (lemur.metrics.collector; migration 0009).
        Index("ix_certificates_lifecycle", "not_after", "revoked_at", "not_before", "renew_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint_sha1: Mapped[str] = mapped_column(String(40), index=True)
    serial_hex: Mapped[str] = mapped_column(String(42), index=True)
    common_name: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    issuer_common_name: Mapped[str | None] = mapped_column(String(255))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    key_type: Mapped[str] = mapped_column(String(16))
    key_size: Mapped[int] = mapped_column(Integer)
    key_spec: Mapped[str | None] = mapped_column(String(16))
    signature_algorithm: Mapped[str] = mapped_column(String(64))
    is_ca: Mapped[bool] = mapped_column(default=False)
    profile: Mapped[str | None] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))  # issued | imported | discovered
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    has_private_key: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    lineage_id: Mapped[int | None] = mapped_column(Integer, index=True)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(255))
    # Start of the renewal window (lemur.certificates.renewal), computed once at insert so
    # that status=expiring is an index range rather than an expression per row.
    renew_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Renewal policy overrides (None: the team's, else the authority's; lemur.renewal) and
    # when the renewal pass told the owners that Lemur will not renew this one itself.
    renewal_policy: Mapped[str | None] = mapped_column(String(16))
    renew_before_days: Mapped[int | None] = mapped_column(Integer)
    renewal_manual_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # What its owners say it is for (lemur.text's Text rules, at most 1000 characters), and
    # when and by whom it was archived: hidden from lists, kept (migration 0011).
    description: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    archived_by: Mapped[str | None] = mapped_column(String(100))

    names: Mapped[list[CertificateName]] = relationship(
        back_populates="certificate", cascade="all, delete-orphan", order_by="CertificateName.id"
    )


@dataclass(frozen=True, slots=True)
class NameEntry:
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """One certificate as the store returns it from every read and write: the columns of
    ``certificates``, its names, and (where the read joins them) its team's and
    authority's names. Built from Core rows, so it costs no ORM instance and cannot go
    stale in a session's identity map."""

    id: int
    fingerprint_sha256: str
    fingerprint_sha1: str
    serial_hex: str
    common_name: str | None
    subject: str
    issuer: str
    issuer_common_name: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    key_size: int
    key_spec: str | None
    signature_algorithm: str
    is_ca: bool
    profile: str | None
    origin: str
    team_id: int | None
    authority_id: int | None
    der: bytes
    chain_pem: str
    has_private_key: bool
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    lineage_id: int | None
    replaces_id: int | None
    replaced_by_id: int | None
    created_at: dt.datetime
    created_by: str
    external_id: str | None
    renew_after: dt.datetime
    names: tuple[NameEntry, ...]
    team_name: str | None = None
    authority_name: str | None = None
    renewal_policy: str | None = None
    renew_before_days: int | None = None
    renewal_manual_at: dt.datetime | None = None
    description: str | None = None
    archived_at: dt.datetime | None = None
    archived_by: str | None = None


class CertificateName(Base):
    """A name a certificate carries (CN or SAN), lowercased: the search index."""

    __tablename__ = "certificate_names"
    __table_args__ = (
        UniqueConstraint("certificate_id", "kind", "name"),
        Index("ix_certificate_names_name_certificate_id", "name", "certificate_id"),
        # Substring search on PostgreSQL (migration 0003); SQLite has no such index type.
        Index(
            "ix_certificate_names_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        # Nobody reads these ids back; without RETURNING, inserting names needs no answer
        # and can share a pipeline (lemur.db.pipelined) with the rest of an issuance.
        {"implicit_returning": False},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # cn | dns | ip | email | uri
    name: Mapped[str] = mapped_column(String(255))

    certificate: Mapped[Certificate] = relationship(back_populates="names")


class PrivateKey(Base):
    """A certificate's private key, PKCS#8 DER encrypted by the key ring."""

    __tablename__ = "private_keys"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    key_spec: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[str] = mapped_column(Text, info={"encrypted": True})
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
