"""An authority as the authorities service returns it from every read and write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from lemur.authorities.allowances import extended_key_usages_of, subject_fields_of
from lemur.authorities.inventory import CACertificate
from lemur.authorities.models import Authority
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName


@dataclass(frozen=True)
class AuthorityRecord:
    """An authority with its certificate, as every read and write of this service returns
    it."""

    id: int
    name: str
    description: str
    plugin_slug: str
    has_key: bool
    active: bool
    parent_id: int | None
    cab_forum: bool
    default_validity_days: int
    max_validity_days: int
    exportable: bool
    created_at: dt.datetime
    certificate: CACertificate | None
    renewal_policy: str = "auto"
    renew_before_days: int | None = None
    allowed_subject_fields: tuple[SubjectField, ...] = ()
    allowed_extended_key_usages: tuple[ExtendedKeyUsageName, ...] = ()

    @classmethod
    def of(cls, row: Authority, certificate: CACertificate | None) -> AuthorityRecord:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            plugin_slug=row.plugin_slug,
            has_key=row.has_key,
            active=row.active,
            parent_id=row.parent_id,
            cab_forum=row.cab_forum,
            default_validity_days=row.default_validity_days,
            max_validity_days=row.max_validity_days,
            exportable=row.exportable,
            created_at=row.created_at,
            certificate=certificate,
            renewal_policy=row.renewal_policy or "auto",
            renew_before_days=row.renew_before_days,
            allowed_subject_fields=subject_fields_of(row.allowed_subject_fields),
            allowed_extended_key_usages=extended_key_usages_of(row.allowed_extended_key_usages),
        )

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The authority's certificate followed by its issuers' (root last)."""
        if self.certificate is None:
            return ()
        return (self.certificate.certificate, *self.certificate.chain)
