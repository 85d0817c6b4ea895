"""Certificate requests: the user's input, its names normalised, and its validity window.

Errors raised here name the request's fields (``subject_alternative_names.dns_names[2]``,
``validity_days``); errors of the crypto layer and the issuer name their own parameters and
are mapped to the request's fields once, in the API (lemur.certificates.fields)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lemur.authorities.signing import IssuingAuthority, backdated, effective_max_validity_days
from lemur.crypto.keys import KeySpec
from lemur.crypto.names import SubjectAltNames, normalize_dns_name
from lemur.crypto.profiles import Profile
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


def validity_window(
    authority: IssuingAuthority,
    profile: Profile,
    days: int | None,
    *,
    now: dt.datetime,
    issuer_not_after: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    """(not_before, not_after) within the profile's, the authority's and the issuer's limits."""
    profile_default, profile_max = PROFILE_VALIDITY[profile]
    not_before = backdated(now)
    # BR §6.3.2 for CA/B Forum authorities: the maximum shrinks over the years.
    maximum = min(
        profile_max,
        effective_max_validity_days(
            authority.max_validity_days, cab_forum=authority.cab_forum, not_before=not_before
        ),
    )
    days = (
        days if days is not None else min(authority.default_validity_days, profile_default, maximum)
    )
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
    if not_after > ca_expiry:
        left = max((ca_expiry - not_before).days, 0)
        raise InvalidInput(
            f"a certificate must not outlive its issuer: '{authority.name}' expires on "
            f"{ca_expiry:%Y-%m-%d}, so at most {left} days are possible",
            code="validity_exceeds_issuer",
            field="validity_days",
        )
    return not_before, not_after
