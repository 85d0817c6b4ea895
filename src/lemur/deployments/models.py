"""Destination, endpoint, certificate-destination and deployment rows.

- A **destination** is a configured destination plugin (``directory``, ``sftp``,
  ``aws-iam``, ``aws-acm``); its options are stored as
  :func:`lemur.plugins.options.dump_options` writes them (secrets encrypted). ``team_id``
  None: any team may deploy to it; otherwise only that team's certificates.
- An **endpoint** is where the destination's certificate is served: a TLS ``host:port``
  with an SNI name, checked by a handshake after each deployment, or a load balancer
  ``listener`` the destination plugin switches to the new certificate. It keeps the
  fingerprint last seen there and when.
- A certificate's **destinations** are where it belongs: issuing, renewing and
  redeploying deploy it to each of them; a renewal carries them to the successor.
- A **deployment** is one certificate at one destination (unique on the pair): its state,
  the plugin's reference (a path, an ARN), attempts, last error, the certificate it
  replaced there (restored when verification fails).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lemur.db import Base, UTCDateTime


class DeploymentState(enum.StrEnum):
    PENDING = "pending"  # a deployment job is scheduled
    DEPLOYED = "deployed"  # placed and verified at every endpoint
    FAILED = "failed"  # could not be placed (last_error says why); retried when transient
    ROLLED_BACK = "rolled_back"  # placed but not served correctly: the previous one restored
    REPLACED = "replaced"  # a later certificate took its place at the destination
    REMOVING = "removing"  # a removal job is scheduled
    REMOVED = "removed"  # taken off the destination


class EndpointKind(enum.StrEnum):
    TLS = "tls"
    LISTENER = "listener"


class Destination(Base):
    __tablename__ = "destinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    plugin: Mapped[str] = mapped_column(String(64))
    # JSON (dump_options), secrets encrypted inside; `lemur keys rotate` re-encrypts them.
    options: Mapped[str] = mapped_column(Text, info={"encrypted_json": True})
    description: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Endpoint(Base):
    __tablename__ = "destination_endpoints"
    __table_args__ = (
        UniqueConstraint("destination_id", "kind", "host", "port", "sni", "listener"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=0)
    sni: Mapped[str] = mapped_column(String(255), default="")
    listener: Mapped[str] = mapped_column(String(2048), default="")
    last_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CertificateDestination(Base):
    __tablename__ = "certificate_destinations"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("destinations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(100))


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("certificate_id", "destination_id"),
        Index("ix_deployments_destination_state", "destination_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), index=True
    )
    destination_id: Mapped[int] = mapped_column(ForeignKey("destinations.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str | None] = mapped_column(String(2048))
    # The certificate this one replaced at the destination (restored on a failed check).
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL")
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Incremented by every (re)deployment request; a job carries the round it was queued
    # for, so a job left over from an earlier request does nothing.
    round: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deployed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
