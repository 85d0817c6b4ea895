from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lemur.authorities.records import AuthorityRecord
from lemur.authorities.signing import backdated, effective_max_validity_days
from lemur.authorities.specs import LOCAL_CA, LocalAuthoritySpec, RemoteAuthoritySpec, SubjectFields
from lemur.authorities.urls import AuthorityURLs
from lemur.bounds import MAX_CA_VALIDITY_DAYS, MAX_PATH_LENGTH, MAX_VALIDITY_DAYS
from lemur.crypto.keys import KeySpec
from lemur.crypto.parsing import certificate_to_pem
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName
from lemur.errors import InvalidInput
from lemur.ids import BodyId
from lemur.renewal.choices import MAX_RENEW_BEFORE_DAYS, MIN_RENEW_BEFORE_DAYS, RenewalPolicy
from lemur.text import Line, PEMText, Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubjectIn(Strict):
    common_name: Line = Field(min_length=1, max_length=64)
    organization: Line | None = Field(None, max_length=64)
    organizational_unit: Line | None = Field(None, max_length=64)
    country: Line | None = Field(
        None, min_length=2, max_length=2, description="ISO 3166 two-letter code"
    )
    state: Line | None = Field(None, max_length=128)
    locality: Line | None = Field(None, max_length=128)


class AuthorityCreate(Strict):
    name: Line = Field(max_length=64)
    description: Text = Field("", max_length=500)
    subject: SubjectIn | None = Field(
        None,
        description="the CA's subject: required for a CA Lemur creates (local-ca); a CA "
        "reached through a plugin (acme, cfssl, aws-pca) has its own",
    )
    key_type: KeySpec = KeySpec.EC_P256
    validity_days: int | None = Field(
        None,
        ge=1,
        le=MAX_CA_VALIDITY_DAYS,
        description="default: 3650 for a root; for an intermediate 3650 or what its parent has left",
    )
    parent_id: BodyId | None = Field(None, description="issuing authority; omit for a root CA")
    path_length: int | None = Field(None, ge=0, le=MAX_PATH_LENGTH)
    permitted_dns_domains: list[Line] = Field(default_factory=list, max_length=100)
    excluded_dns_domains: list[Line] = Field(default_factory=list, max_length=100)
    cab_forum: bool = Field(
        False, description="restrict to the CA/Browser Forum Baseline Requirements"
    )
    default_validity_days: int = Field(90, ge=1, le=MAX_VALIDITY_DAYS)
    max_validity_days: int = Field(397, ge=1, le=MAX_VALIDITY_DAYS)
    exportable: bool = Field(
        False,
        description="whether the CA's private key may ever be exported (audited as "
        "authority.export_key); cannot be changed later",
    )
    renewal_policy: RenewalPolicy = Field(
        RenewalPolicy.AUTO,
        description="auto: renew certificates inside their renewal window; notify: tell "
        "their owners only (teams and certificates may override it)",
    )
    renew_before_days: int | None = Field(
        None,
        ge=MIN_RENEW_BEFORE_DAYS,
        le=MAX_RENEW_BEFORE_DAYS,
        description="renewal window in days before expiry; default: the last third of the "
        "lifetime, at most 30 days",
    )
    allowed_subject_fields: list[SubjectField] | None = Field(
        None,
        max_length=len(SubjectField),
        description="subject fields requesters may put in its certificates besides the "
        "common name; default: all for a private CA, country only for a CA/B Forum one (which "
        "may also allow organization, state and locality, never organizational_unit)",
    )
    allowed_extended_key_usages: list[ExtendedKeyUsageName] | None = Field(
        None,
        min_length=1,
        max_length=len(ExtendedKeyUsageName),
        description="extended key usages requesters may ask for; default: all for a private "
        "CA, server_auth and client_auth (the only ones allowed) for a CA/B Forum one",
    )
    plugin: Line = Field(
        LOCAL_CA,
        max_length=64,
        description="the issuer plugin: one that creates a CA Lemur holds the key of "
        "(local-ca), or one that reaches a CA over the network (acme, cfssl, aws-pca; it "
        "connects with the options first). GET /api/v1/plugins?kind=issuer lists them",
    )
    options: dict[Line, Any] = Field(
        default_factory=dict,
        description="the issuer plugin's options (its options_schema in GET /api/v1/plugins); "
        "secrets are stored encrypted and never returned",
    )

    def _issuing(self) -> dict[str, Any]:
        """What every authority has, local or remote: the limits and renewal settings of the
        certificates it issues and what requesters may choose."""
        return {
            "default_validity_days": self.default_validity_days,
            "max_validity_days": self.max_validity_days,
            "renewal_policy": self.renewal_policy.value,
            "renew_before_days": self.renew_before_days,
            "allowed_subject_fields": None
            if self.allowed_subject_fields is None
            else tuple(self.allowed_subject_fields),
            "allowed_extended_key_usages": None
            if self.allowed_extended_key_usages is None
            else tuple(self.allowed_extended_key_usages),
        }

    def to_remote_spec(self) -> RemoteAuthoritySpec:
        """What the authorities service creates for a CA reached through a plugin. Raises
        InvalidInput(not_for_remote_authority) naming a field that only a CA Lemur creates
        has."""
        for name in sorted(self.model_fields_set & _LOCAL_ONLY):
            raise InvalidInput(
                f"{name} applies only to a CA Lemur creates (local-ca); the CA of "
                f"'{self.plugin}' has its own",
                code="not_for_remote_authority",
                field=name,
            )
        return RemoteAuthoritySpec(
            name=self.name,
            description=self.description,
            plugin=self.plugin,
            options=self.options,
            **self._issuing(),
        )

    def to_spec(self) -> LocalAuthoritySpec:
        """What the authorities service creates from this request."""
        if self.subject is None:
            raise InvalidInput(
                "a CA Lemur creates needs a subject (at least a common_name)",
                code="subject_required",
                field="subject",
            )
        return LocalAuthoritySpec(
            name=self.name,
            description=self.description,
            subject=SubjectFields(**self.subject.model_dump()),
            key_spec=self.key_type,
            validity_days=self.validity_days,
            parent_id=self.parent_id,
            path_length=self.path_length,
            permitted_dns_subtrees=tuple(self.permitted_dns_domains),
            excluded_dns_subtrees=tuple(self.excluded_dns_domains),
            cab_forum=self.cab_forum,
            exportable=self.exportable,
            **self._issuing(),
            plugin=self.plugin,
            options=self.options,
        )


# What only a CA Lemur creates (and holds the key of) has.
_LOCAL_ONLY = frozenset(
    {
        "subject",
        "key_type",
        "validity_days",
        "parent_id",
        "path_length",
        "permitted_dns_domains",
        "excluded_dns_domains",
        "cab_forum",
        "exportable",
    }
)


class AuthorityUpdate(Strict):
    description: Text | None = Field(None, max_length=500)
    options: dict[Line, Any] | None = Field(
        None,
        description="the plugin's options, all of them (a CA reached through a plugin "
        "only); a secret left out or null keeps its stored value. Lemur connects with them "
        "before storing them",
    )


# Parameters of the crypto layer and the issuer plugin, as the request names them.
_CREATE_FIELDS = {
    "not_before": "validity_days",
    "not_after": "validity_days",
    "public_key": "key_type",
    "issuer_key": "parent_id",
    "issuer_cert": "parent_id",
    "permitted_dns_subtrees": "permitted_dns_domains",
    "excluded_dns_subtrees": "excluded_dns_domains",
}


def create_error(exc: InvalidInput) -> InvalidInput:
    """An error of creating an authority with its field named as AuthorityCreate names it
    (the crypto layer and the issuer plugin name their own parameters)."""
    head, bracket, rest = (exc.field or "").partition("[")
    if head not in _CREATE_FIELDS:
        return exc
    return InvalidInput(exc.message, code=exc.code, field=_CREATE_FIELDS[head] + bracket + rest)


class AuthorityImport(Strict):
    name: Line = Field(max_length=64)
    description: Text = Field("", max_length=500)
    certificate: PEMText = Field(max_length=64 * 1024, description="the CA certificate, PEM")


class AuthorityOut(BaseModel):
    id: int
    name: str
    description: str
    plugin: str
    has_key: bool
    active: bool
    parent_id: int | None
    cab_forum: bool
    certificate_id: int | None
    subject: str | None
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    key_type: str | None
    key_size: int | None
    default_validity_days: int
    max_validity_days: int = Field(
        description="the effective maximum now: for a CA/B Forum authority also the Baseline "
        "Requirements' maximum for certificates issued today"
    )
    exportable: bool
    crl_url: str | None
    ocsp_url: str | None
    ca_issuers_url: str
    created_at: dt.datetime
    renewal_policy: str
    renew_before_days: int | None
    allowed_subject_fields: list[str] = Field(
        description="subject fields requesters may set besides the common name"
    )
    allowed_extended_key_usages: list[str] = Field(
        description="extended key usages requesters may ask for"
    )

    @classmethod
    def of(
        cls, authority: AuthorityRecord, urls: AuthorityURLs, *, now: dt.datetime
    ) -> AuthorityOut:
        cert = authority.certificate
        maximum = effective_max_validity_days(
            authority.max_validity_days, cab_forum=authority.cab_forum, not_before=backdated(now)
        )
        return cls(
            id=authority.id,
            name=authority.name,
            description=authority.description,
            plugin=authority.plugin_slug,
            has_key=authority.has_key,
            active=authority.active,
            parent_id=authority.parent_id,
            cab_forum=authority.cab_forum,
            certificate_id=cert.id if cert else None,
            subject=cert.subject if cert else None,
            not_before=cert.not_before if cert else None,
            not_after=cert.not_after if cert else None,
            key_type=cert.key_type if cert else None,
            key_size=cert.key_size if cert else None,
            default_validity_days=min(authority.default_validity_days, maximum),
            max_validity_days=maximum,
            exportable=authority.exportable,
            crl_url=urls.crl(authority.id) if authority.has_key else None,
            ocsp_url=urls.ocsp(authority.id) if authority.has_key else None,
            ca_issuers_url=urls.ca_issuers(authority.id),
            created_at=authority.created_at,
            renewal_policy=authority.renewal_policy,
            renew_before_days=authority.renew_before_days,
            allowed_subject_fields=[f.value for f in authority.allowed_subject_fields],
            allowed_extended_key_usages=[u.value for u in authority.allowed_extended_key_usages],
        )


class AuthorityDetailOut(AuthorityOut):
    certificate_pem: str
    chain_pem: list[str] = Field(description="the authority's certificate first, its root last")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="the issuer plugin's options: every secret is null, and `secrets_set` "
        "lists the secrets that have a value",
    )

    @classmethod
    def of_detail(
        cls,
        authority: AuthorityRecord,
        urls: AuthorityURLs,
        *,
        now: dt.datetime,
        options: dict[str, Any] | None = None,
    ) -> AuthorityDetailOut:
        chain = [certificate_to_pem(c).decode() for c in authority.chain]
        return cls(
            **AuthorityOut.of(authority, urls, now=now).model_dump(),
            certificate_pem=chain[0] if chain else "",
            chain_pem=chain,
            options=options or {},
        )


class ConnectionCheckOut(BaseModel):
    summary: str = Field(description="what was checked, in plain words")
    authority: AuthorityDetailOut
