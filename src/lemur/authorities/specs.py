"""What a new local authority should look like, as the API and the bootstrap give it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from lemur.crypto.keys import KeySpec
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName
from lemur.errors import InvalidInput

DEFAULT_CA_VALIDITY_DAYS = 3650
LOCAL_CA = "local-ca"
# A CA imported without its key and with no plugin: certificates chain to it, nothing more.
EXTERNAL = "external"


@dataclass(frozen=True)
class SubjectFields:
    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    def to_name(self) -> x509.Name:
        # Order as the CA/B Forum BR §7.1.4.2 expects: C, ST, L, O, OU, CN.
        pairs = [
            (NameOID.COUNTRY_NAME, self.country),
            (NameOID.STATE_OR_PROVINCE_NAME, self.state),
            (NameOID.LOCALITY_NAME, self.locality),
            (NameOID.ORGANIZATION_NAME, self.organization),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.organizational_unit),
            (NameOID.COMMON_NAME, self.common_name),
        ]
        try:
            return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs if value])
        except ValueError as exc:
            raise InvalidInput(
                f"invalid subject: {exc}", code="invalid_subject", field="subject"
            ) from exc


@dataclass(frozen=True)
class LocalAuthoritySpec:
    name: str
    subject: SubjectFields
    key_spec: KeySpec
    validity_days: int | None = DEFAULT_CA_VALIDITY_DAYS
    parent_id: int | None = None
    path_length: int | None = None
    permitted_dns_subtrees: tuple[str, ...] = ()
    excluded_dns_subtrees: tuple[str, ...] = ()
    cab_forum: bool = False
    default_validity_days: int = 90
    max_validity_days: int = 397
    description: str = ""
    exportable: bool = False
    renewal_policy: str = "auto"
    renew_before_days: int | None = None
    # What requesters may choose for its leaves; None: the defaults for its kind
    # (lemur.crypto.subjects.default_subject_fields, usages.default_extended_key_usages).
    allowed_subject_fields: tuple[SubjectField, ...] | None = None
    allowed_extended_key_usages: tuple[ExtendedKeyUsageName, ...] | None = None
    # The issuer plugin that creates the CA (one with the create_authority capability) and
    # its options, as the user gave them (validated by the plugin's options model).
    plugin: str = LOCAL_CA
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteAuthoritySpec:
    """An authority whose CA Lemur reaches through an issuer plugin (ACME, CFSSL, AWS
    Private CA): no key, no subject of its own; its limits and what requesters may choose."""

    name: str
    plugin: str
    options: Mapping[str, object]
    description: str = ""
    default_validity_days: int = 90
    max_validity_days: int = 397
    renewal_policy: str = "auto"
    renew_before_days: int | None = None
    allowed_subject_fields: tuple[SubjectField, ...] | None = None
    allowed_extended_key_usages: tuple[ExtendedKeyUsageName, ...] | None = None
