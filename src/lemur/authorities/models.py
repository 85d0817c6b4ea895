from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lemur.db import Base, UTCDateTime

# A private CA's allowances (migration 0012 writes the CA/B Forum ones for those authorities).
PRIVATE_SUBJECT_FIELDS = "organization,organizational_unit,country,state,locality"
PRIVATE_EXTENDED_KEY_USAGES = "server_auth,client_auth,code_signing,email_protection,time_stamping"


class Authority(Base):
    """A configured issuer. ``plugin_slug`` names the issuer plugin ("local-ca"), or is
    "external" for a CA imported without its key (certificates can chain to it, nothing can
    be issued from it)."""

    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    plugin_slug: Mapped[str] = mapped_column(String(64))
    # The issuer plugin's options (dump_options): secrets encrypted inside, re-encrypted by
    # `lemur keys rotate`.
    options: Mapped[str] = mapped_column(Text, default="{}", info={"encrypted_json": True})
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey(
            "certificates.id", use_alter=True, name="fk_authorities_certificate_id_certificates"
        )
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"))
    has_key: Mapped[bool] = mapped_column(default=False)
    cab_forum: Mapped[bool] = mapped_column(default=False)
    default_validity_days: Mapped[int] = mapped_column(Integer)
    max_validity_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    # Whether the CA's private key may be exported (chosen at creation, default no).
    exportable: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    crl_number: Mapped[int] = mapped_column(Integer, default=0)
    # Deferred: the CRL can be large, and only the CRL route reads it.
    crl_der: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    crl_next_update: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    crl_stale: Mapped[bool] = mapped_column(default=True)
    # Automatic renewal (lemur.renewal.policy): "auto" or "notify", overridable per team and
    # per certificate; renew_before_days replaces the standard renewal window when set.
    renewal_policy: Mapped[str | None] = mapped_column(
        String(16), default="auto", server_default="auto"
    )
    renew_before_days: Mapped[int | None] = mapped_column(Integer)
    # What requesters may choose for a leaf (lemur.authorities.allowances: comma-separated
    # names of lemur.crypto.subjects.SubjectField and lemur.crypto.usages.ExtendedKeyUsageName).
    allowed_subject_fields: Mapped[str] = mapped_column(
        String(128), default=PRIVATE_SUBJECT_FIELDS, server_default=PRIVATE_SUBJECT_FIELDS
    )
    allowed_extended_key_usages: Mapped[str] = mapped_column(
        String(256), default=PRIVATE_EXTENDED_KEY_USAGES, server_default=PRIVATE_EXTENDED_KEY_USAGES
    )
