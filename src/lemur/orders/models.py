"""A pending request and an ACME HTTP-01 answer, as stored."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lemur.db import Base, UTCDateTime


class RequestState(enum.StrEnum):
    PENDING = "pending"  # at the CA; a poll job is scheduled
    ISSUED = "issued"  # the certificate is in the inventory (certificate_id)
    FAILED = "failed"  # the CA refused, or Lemur gave up (last_error says why)
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not RequestState.PENDING


class CertificateRequest(Base):
    """A request an issuer answered with Pending. ``spec`` is the checked request as JSON
    (names, profile, validity window, choices), ``csr`` the CSR sent to the CA, and
    ``private_key`` the key Lemur generated for it, encrypted with the key ring (None when
    the requester sent their own CSR)."""

    __tablename__ = "certificate_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(255))
    # The CA's reference (an ACME order URL, a certificate ARN).
    external_id: Mapped[str] = mapped_column(String(2048))
    # What the CA is doing, in plain words, and the last error (a retry, or the failure).
    note: Mapped[str] = mapped_column(String(500), default="")
    last_error: Mapped[str | None] = mapped_column(Text)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    # Polls in a row that failed to reach the CA (the backoff grows with them).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    common_name: Mapped[str | None] = mapped_column(String(255))
    names: Mapped[str] = mapped_column(Text)  # comma-separated, for lists
    spec: Mapped[str] = mapped_column(Text)
    csr: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str | None] = mapped_column(Text)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    # JSON list of destination ids to deploy to once issued (lemur.deployments).
    destinations: Mapped[str] = mapped_column(Text, default="[]")
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AcmeChallenge(Base):
    """An ACME HTTP-01 key authorization Lemur serves at
    ``/.well-known/acme-challenge/{token}`` while an order is validated."""

    __tablename__ = "acme_challenges"

    token: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
