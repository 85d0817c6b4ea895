"""Certificate requests: the user's input, its names normalised, and its validity window.

Errors raised here name the request's fields (``subject_alternative_names.dns_names[2]``,
``validity_days``); errors of the crypto layer and the issuer name their own parameters and
are mapped to the request's fields once, in the API (lemur.certificates.fields)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from lemur.authorities.signing import IssuingAuthority, backdated, effective_max_validity_days
from lemur.crypto.choices import check_leaf_choices
from lemur.crypto.keys import KeySpec, PublicKey
from lemur.crypto.names import SubjectAltNames, normalize_dns_name
from lemur.crypto.profiles import Profile, extended_key_usage, leaf_key_usage
from lemur.crypto.subjects import NO_SUBJECT, LeafSubject
from lemur.crypto.usages import (
    ExtendedKeyUsageName,
    KeyUsageName,
    extended_key_usage_names,
    key_usage_names,
)
from lemur.errors import InvalidInput
from lemur.text import require_line

# (default, maximum) validity in days per profile. Server certificates follow the
# CA/Browser Forum's 398-day ceiling even from private CAs: clients enforce it anyway.
PROFILE_VALIDITY = {
    Profile.SERVER: (90, 397),
    Profile.CLIENT: (365, 825),
    Profile.SERVER_CLIENT: (90, 397),
}


@dataclass(frozen=True)
class NewCertificate:
    """A request for a certificate; names are raw user input, validated by the service."""

    team_id: int
    authority_id: int
    common_name: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    profile: Profile = Profile.SERVER
    validity_days: int | None = None
    key_spec: KeySpec = KeySpec.EC_P256
    csr: bytes | None = None
    subject: LeafSubject = NO_SUBJECT
    key_usage: tuple[KeyUsageName, ...] | None = None  # None: the defaults for the key
    extended_key_usage: tuple[ExtendedKeyUsageName, ...] | None = None  # None: the profile's
    # Where to deploy it once issued (lemur.deployments); needs certificate.deploy.
    destinations: tuple[int, ...] = ()


def normalize_names(req: NewCertificate) -> tuple[str | None, SubjectAltNames]:
    """The request's names validated and normalised; a server CN is also a DNS SAN."""
    sans = SubjectAltNames.create(
        dns_names=req.dns_names, ip_addresses=req.ip_addresses, emails=req.emails, uris=req.uris
    )
    common_name = req.common_name.strip() if req.common_name else None
    if common_name is not None:
        # Also for a CN taken from a CSR, which no request schema has seen (lemur.text).
        require_line(common_name, field="common_name")
    if common_name and req.profile is not Profile.CLIENT:
        # A server certificate's CN is one of its names (CA/B BR §7.1.4.3): normalise it
        # like a DNS name and make sure the SAN extension carries it too.
        common_name = normalize_dns_name(common_name, field="common_name")
        if common_name not in sans.dns_names:
            sans = SubjectAltNames(
                dns_names=(common_name, *sans.dns_names),
                ip_addresses=sans.ip_addresses,
                emails=sans.emails,
                uris=sans.uris,
            )
    if common_name is not None and len(common_name) > 64:
        raise InvalidInput(
            "common_name is longer than 64 characters (RFC 5280 ub-common-name); put long names in dns_names only",
            code="common_name_too_long",
            field="common_name",
        )
    if not sans.all_names() and not common_name:
        raise InvalidInput(
            "a certificate needs at least one name: give common_name or dns_names",
            code="names_required",
            field="subject_alternative_names.dns_names",
        )
    return common_name, sans


def validity_limits(
    authority: IssuingAuthority, profile: Profile, *, now: dt.datetime
) -> tuple[int, int]:
    """(default, maximum) validity in days of a certificate issued ``now``: the profile's,
    the authority's and, for a CA/B Forum authority, the Baseline Requirements' limits.
    What the request form shows and what issuance enforces."""
    profile_default, profile_max = PROFILE_VALIDITY[profile]
    # BR §6.3.2 for CA/B Forum authorities: the maximum shrinks over the years.
    maximum = min(
        profile_max,
        effective_max_validity_days(
            authority.max_validity_days, cab_forum=authority.cab_forum, not_before=backdated(now)
        ),
    )
    return min(authority.default_validity_days, profile_default, maximum), maximum


def validity_window(
    authority: IssuingAuthority,
    profile: Profile,
    days: int | None,
    *,
    now: dt.datetime,
    issuer_not_after: dt.datetime | None,
) -> tuple[dt.datetime, dt.datetime]:
    """(not_before, not_after) within the profile's, the authority's and the issuer's limits
    (``issuer_not_after`` None: a remote CA, which checks its own)."""
    default, maximum = validity_limits(authority, profile, now=now)
    not_before = backdated(now)
    days = days if days is not None else default
    if days < 1:
        raise InvalidInput(
            "validity_days must be at least 1", code="invalid_validity", field="validity_days"
        )
    if days > maximum:
        raise InvalidInput(
            f"validity_days {days} is more than the {maximum} days allowed for a {profile.value} "
            f"certificate from '{authority.name}'",
            code="validity_exceeds_maximum",
            field="validity_days",
        )
    not_after = not_before + dt.timedelta(days=days)
    ca_expiry = issuer_not_after
    if ca_expiry is not None and not_after > ca_expiry:
        left = max((ca_expiry - not_before).days, 0)
        raise InvalidInput(
            f"a certificate must not outlive its issuer: '{authority.name}' expires on "
            f"{ca_expiry:%Y-%m-%d}, so at most {left} days are possible",
            code="validity_exceeds_issuer",
            field="validity_days",
        )
    return not_before, not_after


def check_choices(
    authority: IssuingAuthority,
    *,
    subject: LeafSubject,
    key_usage: tuple[KeyUsageName, ...] | None,
    extended_key_usage: tuple[ExtendedKeyUsageName, ...] | None,
    public_key: PublicKey,
) -> None:
    """The request's subject fields and usages against what ``authority`` allows and what
    the key can do. Raises InvalidInput naming ``subject.<field>``, ``key_usage[i]`` or
    ``extended_key_usage[i]``."""
    check_leaf_choices(
        authority_name=authority.name,
        subject=subject,
        key_usage=key_usage,
        extended_key_usage=extended_key_usage,
        public_key=public_key,
        allowed_subject_fields=authority.allowed_subject_fields,
        allowed_extended_key_usages=authority.allowed_extended_key_usages,
        cab_forum=authority.cab_forum,
    )


def chosen(
    certificate: x509.Certificate, profile: Profile
) -> tuple[LeafSubject, tuple[KeyUsageName, ...] | None, tuple[ExtendedKeyUsageName, ...] | None]:
    """What a certificate's requester chose: its subject fields, and its usages where they
    differ from the defaults (None where they are the defaults, so that a renewal with a key
    of another type gets that key's defaults)."""
    extensions = certificate.extensions
    key_usage: tuple[KeyUsageName, ...] | None = None
    try:
        found = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        public_key = certificate.public_key()
        assert isinstance(public_key, PublicKey), "issued here, so a key type Lemur issues for"
        if found != leaf_key_usage(public_key):
            key_usage = key_usage_names(found)
    extended: tuple[ExtendedKeyUsageName, ...] | None = None
    try:
        eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        if eku != extended_key_usage(profile):
            extended = extended_key_usage_names(eku)
    return LeafSubject.of_name(certificate.subject), key_usage, extended
